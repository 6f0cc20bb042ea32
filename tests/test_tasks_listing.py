"""`clapbench tasks`: filters by domain and group, and a JSON listing for scripts."""

from __future__ import annotations

import json

from conftest import run_cli

from clapbench.registry import groups, registry


def test_tasks_filter_by_domain_and_group_and_print_json():
    reg = registry()
    named = groups(reg)
    res = run_cli("tasks", "--domain", "music", "--group", "msclap-2023", "--json")
    assert res.exit_code == 0, res.output
    listed = json.loads(res.output)
    expected = sorted(n for n in named["msclap-2023"] if reg[n].domain == "music")
    assert [t["name"] for t in listed] == expected and len(expected) >= 5
    first = listed[0]
    assert first["domain"] == "music" and "msclap-2023" in first["groups"] and first["main_metric"] == reg[first["name"]].main_metric
    assert first["templates"] == reg[first["name"]].templates

    plain = run_cli("tasks", "--domain", "speech")
    lines = plain.output.splitlines()
    assert lines[1].split()[:2] == ["task", "domain"]
    rows = lines[2: next(i for i, line in enumerate(lines) if line.startswith("groups:"))]
    assert sorted(line.split()[0] for line in rows) == sorted(n for n, s in reg.items() if s.domain == "speech")


def test_unknown_domain_or_group_lists_the_known_ones():
    res = run_cli("tasks", "--domain", "musik")
    assert res.exit_code == 2 and "'musik' is not a domain; domains: " in res.output and "music" in res.output
    res = run_cli("tasks", "--group", "msclap")
    assert res.exit_code == 2 and "'msclap' is not a group" in res.output and "msclap-2023" in res.output


def test_listing_tasks_imports_no_heavy_library():
    """`clapbench tasks` and `--help` answer in well under a second: they import neither pandas, torch, transformers
    nor scikit-learn (each costs 0.5-3 s on 2 cores); the task files are read with libyaml's loader."""
    import subprocess
    import sys

    code = ("import sys; from clapbench.cli import main; sys.argv = ['clapbench'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('pandas', 'torch', 'transformers', 'sklearn') if m in sys.modules])")
    for args in (["tasks"], ["tasks", "--json", "--domain", "music"], ["--help"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip().splitlines()[-1] == "HEAVY []", (args, proc.stdout[-500:])
