"""Served answers equal offline `decode` of the same input with the same prefix and settings, whatever
shares the batch: greedy and beam, mixed-prefix batches, requests arriving while another batch decodes."""

import functools
import threading
import time

import pytest

MODELS = ["tiny-gpt2", "tiny-llama"]


@pytest.fixture
def slow_steps(monkeypatch):
    """slow_steps(served, seconds): every forward pass of the served LM sleeps first (same results, longer batches)."""

    def slow(served, seconds: float = 0.03):
        body = served.batcher.lm.base_model  # what the beam engine runs at every step
        forward = body.forward

        @functools.wraps(forward)
        def delayed(*args, **kwargs):
            time.sleep(seconds)
            return forward(*args, **kwargs)

        monkeypatch.setattr(body, "forward", delayed)

    return slow


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("num_beams", [1, 4])
def test_answer_equals_offline_decode(tmp_path, mrs, write_prefix, serve, model, num_beams):
    kvs = {name: write_prefix(tmp_path / f"{name}.safetensors", model, seed=seed) for seed, name in enumerate("ab")}
    served = serve(tmp_path)
    for name, kv in kvs.items():
        for mr in mrs[:2]:
            got = served.text(name, mr, max_tokens=12, num_beams=num_beams)
            assert got == served.offline(kv, mr, max_tokens=12, num_beams=num_beams)


def test_default_settings_are_the_tasks(tmp_path, mrs, write_prefix, serve):
    """No max_tokens, no num_beams: E2E's beam 5, 5-100 new tokens, newlines banned, cut at EOS."""
    kv = write_prefix(tmp_path / "a.safetensors", seed=3)
    served = serve(tmp_path)
    response = served.complete("a", mrs[1])
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "text_completion" and body["model"] == "a"
    assert body["choices"][0]["text"] == served.offline(kv, mrs[1])
    assert "\n" not in body["choices"][0]["text"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 5 <= usage["completion_tokens"] <= 100


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("num_beams", [1, 3])
def test_mixed_prefix_batch_equals_each_prefix_alone(tmp_path, mrs, write_prefix, serve, model, num_beams):
    kvs = [write_prefix(tmp_path / f"p{i}.safetensors", model, seed=10 + i) for i in range(4)]
    served = serve(tmp_path)
    requests = [(f"p{i}", mrs[i], {"max_tokens": 10, "num_beams": num_beams}) for i in range(4)]
    requests += [("p0", mrs[3], {"max_tokens": 10, "num_beams": num_beams})]  # one prefix on two rows
    texts = served.together(requests)
    stats = served.batcher.snapshot()
    assert stats["largest_batch"] == 5 and stats["engines"] == 1  # all five decoding together
    for (name, mr, _), text in zip(requests, texts):
        assert text == served.offline(kvs[int(name[1])], mr, max_tokens=10, num_beams=num_beams)
    same_input = served.together([(f"p{i}", mrs[0], {"max_tokens": 10, "num_beams": num_beams}) for i in range(4)])
    assert len(set(same_input)) > 1  # the prefixes steer: rows did not all get one prefix


def test_different_settings_and_prefix_lengths_decode_in_separate_batches(tmp_path, mrs, write_prefix, serve):
    short, long = (
        write_prefix(tmp_path / "short.safetensors", length=2),
        write_prefix(tmp_path / "long.safetensors", length=6, seed=1),
    )
    served = serve(tmp_path)
    requests = [
        ("short", mrs[0], {"max_tokens": 8, "num_beams": 1}),
        ("long", mrs[1], {"max_tokens": 8, "num_beams": 1}),
        ("short", mrs[2], {"max_tokens": 8, "num_beams": 2}),
        ("short", mrs[3], {"max_tokens": 6, "num_beams": 1}),
        ("short", mrs[1], {"max_tokens": 8, "num_beams": 1}),
    ]
    texts = served.together(requests)
    assert served.batcher.snapshot()["engines"] == 3  # (greedy, 8) for both prefix lengths; the others alone
    kvs = {"short": short, "long": long}
    for (name, mr, fields), text in zip(requests, texts):
        assert text == served.offline(kvs[name], mr, fields["max_tokens"], fields["num_beams"])


@pytest.mark.parametrize("num_beams", [1, 2])
def test_requests_arriving_while_a_batch_decodes(tmp_path, mrs, write_prefix, serve, slow_steps, num_beams):
    """B and C arrive while A decodes: they join A's running batch (continuous batching) and nobody's answer changes."""
    kvs = {name: write_prefix(tmp_path / f"{name}.safetensors", seed=20 + i) for i, name in enumerate("ABC")}
    served = serve(tmp_path)
    slow_steps(served)
    fields = {"max_tokens": 40, "num_beams": num_beams}
    results = {}

    def send(name, mr):
        results[name] = served.text(name, mr, **fields)

    first = threading.Thread(target=send, args=("A", mrs[0]))
    first.start()
    served.wait_until(lambda s: s["running"] == 1)
    served.batcher.pause()  # B and C queue up together however long A's batch still runs
    later = [threading.Thread(target=send, args=(name, mr)) for name, mr in (("B", mrs[1]), ("C", mrs[2]))]
    for thread in later:
        thread.start()
    served.wait_until(lambda s: s["queued"] == 2)
    assert served.batcher.snapshot()["running"] == 1  # A is still decoding
    served.batcher.resume()
    for thread in [first, *later]:
        thread.join()
    stats = served.batcher.snapshot()
    assert (stats["rows"], stats["largest_batch"]) == (3, 3)  # B and C joined while A was still decoding
    mrs = {"A": mrs[0], "B": mrs[1], "C": mrs[2]}
    for name, text in results.items():
        assert text == served.offline(kvs[name], mrs[name], **fields)
