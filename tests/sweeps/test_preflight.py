"""The paper profile without its downloads: a reproduction stops within seconds with one line naming every
missing model and data set and the ways out, before any run starts (instead of hub retries in every run)."""

import time

import pytest

pytestmark = pytest.mark.needs_data("e2e", "webnlg2017", "dart", "xsum")


@pytest.mark.parametrize(
    ("artifact", "named"),
    [("table2", ["gpt2-medium", "gpt2-large", "dart train split"]),
     ("table3", ["facebook/bart-large", "xsum train split"]),
     ("fig5", ["gpt2-medium"])],
)  # fmt: skip
def test_paper_profile_offline_fails_fast_with_one_line(artifact, named, tmp_path, run_module, assert_user_error):
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-cache"), "RUNS": str(tmp_path / "runs")}
    start = time.perf_counter()
    result = run_module("prefix_tuning.reproduce", artifact, "--profile", "paper", env=env, timeout=120)
    assert time.perf_counter() - start < 30
    assert_user_error(result, *named, "HF_HOME", f"make reproduce-{artifact} PROFILE=cpu", "connect to the internet")
    assert not (tmp_path / "runs").exists()  # no run started
