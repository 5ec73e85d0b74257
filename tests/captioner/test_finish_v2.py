"""The v2 recipe's last stage: the ensemble rule (fixed before any test number) and the packaging."""
from captioner.finish_v2 import decide, package


def report(cider):
    return {"metrics": {"CIDEr": cider}}


def latency(ensemble_ratio):
    return {"models": [{"model": "attention-v1", "ratio_to_first": 1.0}, {"model": "scst", "ratio_to_first": 1.02},
                       {"model": "scst+scst-seed2", "ratio_to_first": ensemble_ratio}]}


def test_the_ensemble_is_used_only_when_it_gains_on_dev_within_the_latency_budget():
    assert decide(report(0.50), report(0.515), latency(1.2))["use_ensemble"] is True
    assert decide(report(0.50), report(0.505), latency(1.2))["use_ensemble"] is False   # too small a gain
    assert decide(report(0.50), report(0.56), latency(1.35))["use_ensemble"] is False   # too slow
    decision = decide(report(0.50), report(0.515), latency(1.2))
    assert decision["ensemble_dev_cider_gain"] == 0.015 and decision["latency_ratios_to_v1"]["scst"] == 1.02


def test_packaging_copies_the_decoder_and_its_records(tmp_path):
    work, target = tmp_path / "work", tmp_path / "attention-v2"
    (work / "scst").mkdir(parents=True)
    (work / "xe-flip").mkdir()
    for name in ("config.json", "vocab.json", "decoder.npz", "scst_history.json"):
        (work / "scst" / name).write_text(name)
    (work / "xe-flip" / "history.json").write_text("xe")
    (work / "test_report.json").write_text("{}")
    copied = package(work, target)
    assert sorted(copied) == sorted(["config.json", "vocab.json", "decoder.npz", "scst_history.json",
                                     "xe_history.json", "test_report.json"])
    assert (target / "xe_history.json").read_text() == "xe" and (target / "decoder.npz").read_text() == "decoder.npz"
