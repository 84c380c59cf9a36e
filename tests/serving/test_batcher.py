"""The worker alone: a cancelled waiting job is never decoded, an abandoned running job leaves the batch at
the next step, and a failing job answers with its error while the worker serves on."""

import functools
import time

import pytest

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.generation.beam_engine import SearchSettings
from prefix_tuning.lm.loading import load_base_model, load_tokenizer
from prefix_tuning.serving.batcher import Batcher, Job


@pytest.fixture
def worker(compose_cfg, random_kv):
    """(Batcher over a tiny GPT-2 of its own, make_job(**search settings), step counter)."""
    cfg = compose_cfg("model=tiny-gpt2").model
    tok = load_tokenizer(cfg)
    lm = load_base_model(cfg, tok)
    calls = []
    forward = lm.base_model.forward

    @functools.wraps(forward)
    def counted(*args, **kwargs):
        calls.append(1)
        return forward(*args, **kwargs)

    lm.base_model.forward = counted
    kv = random_kv(KVGeometry.of(lm.config), 3)
    batcher = Batcher(lm, tok.pad_token_id, max_batch=4)

    def make_job(ids=None, **settings) -> Job:
        settings = {"num_beams": 1, "min_new_tokens": 3, "max_new_tokens": 3, "length_penalty": 1.0,
                    "early_stopping": False, "eos_token_id": tok.eos_token_id, **settings}  # fmt: skip
        return Job(ids or tok(" a b c")["input_ids"], kv, SearchSettings(**settings))

    batcher.start()
    yield batcher, make_job, calls
    batcher.stop()


def test_cancelled_waiting_job_is_never_decoded(worker):
    batcher, make_job, calls = worker
    batcher.pause()
    gone, kept = make_job(), make_job()
    batcher.submit(gone)
    batcher.submit(kept)
    batcher.cancel(gone)
    assert gone.future.cancelled()
    assert batcher.snapshot()["queued"] == 1
    batcher.resume()
    assert len(kept.future.result(timeout=60)) == 3
    stats = batcher.snapshot()
    assert (stats["cancelled"], stats["rows"]) == (1, 1)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_abandoned_job_leaves_the_running_batch_at_the_next_step(worker, num_beams):
    batcher, make_job, calls = worker
    jobs = [make_job(num_beams=num_beams, max_new_tokens=400, min_new_tokens=400) for _ in range(2)]
    for job in jobs:
        batcher.submit(job)
    while len(calls) < 5:  # decoding
        time.sleep(0.001)
    batcher.cancel(jobs[0])
    assert batcher.snapshot()["abandoned"] == 1
    while batcher.snapshot()["running"] == 2:
        time.sleep(0.001)
    assert jobs[0].future.done() and not jobs[1].future.done()  # the other one decodes on
    batcher.cancel(jobs[1])
    while batcher.snapshot()["running"]:
        time.sleep(0.001)
    steps = len(calls)
    time.sleep(0.2)
    assert len(calls) == steps and batcher.snapshot()["rows"] == 0  # nothing decodes for nobody


def test_failing_job_answers_its_error_and_the_worker_goes_on(worker):
    batcher, make_job, calls = worker
    broken = make_job(ids=[10**9])  # no such token
    batcher.submit(broken)
    with pytest.raises(IndexError):
        broken.future.result(timeout=60)
    fine = make_job()
    batcher.submit(fine)
    assert len(fine.future.result(timeout=60)) == 3
