"""Result files (one JSON per model and task) and the leaderboard built from them."""
