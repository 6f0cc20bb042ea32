from clapbench.registry import registry


def test_registry_has_esc50():
    spec = registry()["esc50"]
    assert spec.main_metric == "accuracy"
    assert spec.dataset["metadata"] == "meta/esc50.csv"
