"""The server driven by the official `openai` client: every completions field honoured (checked against an
independent reference: `generate`, a forward pass, the non-streamed answer) or refused with a 400 naming it."""

import math

import openai
import pytest
import torch

from prefix_tuning.generation.decode import generate_kwargs, output_text
from prefix_tuning.prefix.causal import PrefixLM, causal_generate
from prefix_tuning.prefix.encoder import FixedPrefix
from prefix_tuning.serving.task_decoding import task_decoding
from prefix_tuning.tasks.encoding import encode_source


@pytest.fixture
def client(tmp_path, write_prefix, serve):
    """(openai.OpenAI against a served folder with prefix `a`, the Served, P of `a`)."""
    kv = write_prefix(tmp_path / "a.safetensors", seed=5)
    served = serve(tmp_path)
    api = openai.OpenAI(api_key="unused", base_url="http://testserver/v1", http_client=served.client, max_retries=0)
    return api, served, kv


def test_sampling_with_a_seed_is_reproducible_and_differs_from_beam_search(client, mrs):
    api, served, _ = client
    sampled = [api.completions.create(model="a", prompt=mr, temperature=1.0, top_p=0.95, seed=7, max_tokens=12)
               for mr in mrs]  # fmt: skip
    again = [api.completions.create(model="a", prompt=mr, temperature=1.0, top_p=0.95, seed=7, max_tokens=12)
             for mr in mrs]  # fmt: skip
    assert [c.choices[0].text for c in sampled] == [c.choices[0].text for c in again]
    beams = [served.text("a", mr, max_tokens=12) for mr in mrs]
    assert any(c.choices[0].text != beam for c, beam in zip(sampled, beams))
    other_seed = [api.completions.create(model="a", prompt=mr, temperature=1.0, seed=8, max_tokens=12) for mr in mrs]
    assert [c.choices[0].text for c in other_seed] != [c.choices[0].text for c in sampled]


def test_a_nucleus_of_one_token_samples_what_greedy_search_chooses(client, mrs):
    """top_p so small that only the most likely token survives: sampling must give the greedy answer."""
    api, served, _ = client
    for mr in mrs:
        nucleus = api.completions.create(model="a", prompt=mr, temperature=0.7, top_p=1e-6, seed=1, max_tokens=10)
        assert nucleus.choices[0].text == served.text("a", mr, max_tokens=10, num_beams=1)


def test_sampled_and_searched_rows_share_a_batch_and_keep_their_answers(client, mrs):
    api, served, _ = client
    alone = served.text("a", mrs[0], max_tokens=10, num_beams=1)
    sample = served.text("a", mrs[1], max_tokens=10, temperature=1.0, seed=3)
    together = served.together([("a", mrs[0], {"max_tokens": 10, "num_beams": 1}),
                                ("a", mrs[1], {"max_tokens": 10, "temperature": 1.0, "seed": 3})])  # fmt: skip
    assert together == [alone, sample]


def test_stop_cuts_before_the_stop_text(client, mrs):
    api, served, _ = client
    full = served.text("a", mrs[1], max_tokens=16)
    stop = full.split()[2]  # a word inside the answer
    cut = api.completions.create(model="a", prompt=mrs[1], max_tokens=16, stop=[stop, "@@never@@"])
    assert cut.choices[0].text == full[: full.find(stop)] and cut.choices[0].finish_reason == "stop"
    assert api.completions.create(model="a", prompt=mrs[1], max_tokens=16, stop="@@never@@").choices[0].text == full


def test_logprobs_are_the_models_own(client, mrs):
    """Each chosen token's log-probability (and the alternatives) equals a forward pass over prefix + prompt + the
    tokens before it."""
    api, served, kv = client
    answer = api.completions.create(model="a", prompt=mrs[2], max_tokens=8, logprobs=3, extra_body={"num_beams": 1})
    lp = answer.choices[0].logprobs
    tok = served.serving.tokenizer
    prompt = encode_source(tok, mrs[2], 128)
    ids = tok("".join(lp.tokens), add_special_tokens=False)["input_ids"]
    model = PrefixLM(served.batcher.lm, FixedPrefix(kv))
    seq = torch.tensor([prompt + ids])
    with torch.no_grad():
        logits = model(seq, torch.ones_like(seq))
    reference = torch.log_softmax(logits[0].float(), -1)
    for k, token in enumerate(ids):
        row = reference[len(prompt) - 1 + k]
        assert lp.token_logprobs[k] == pytest.approx(row[token].item(), abs=1e-4)
        best = torch.topk(row, 3)
        assert list(lp.top_logprobs[k].values()) == pytest.approx(best.values.tolist(), abs=1e-4)
    assert lp.text_offset[0] == 0 and len(lp.tokens) == answer.usage.completion_tokens


def test_n_beams_are_distinct_ordered_and_generates_best(client, mrs):
    """n=3 of beam 5: generate's num_return_sequences=3 (best first), the first equals the n=1 answer."""
    api, served, kv = client
    answer = api.completions.create(model="a", prompt=mrs[0], max_tokens=12, n=3)
    texts = [choice.text for choice in answer.choices]
    assert [c.index for c in answer.choices] == [0, 1, 2] and len(set(texts)) == 3
    assert texts[0] == served.text("a", mrs[0], max_tokens=12)
    tok = served.serving.tokenizer
    settings = task_decoding("e2e").settings
    kwargs = {**generate_kwargs(settings, tok), "max_new_tokens": 12, "num_return_sequences": 3}
    ids = torch.tensor([encode_source(tok, mrs[0], 128)])
    sequences = causal_generate(served.batcher.lm, ids, torch.ones_like(ids), kv, **kwargs)
    assert texts == [output_text(tok, seq.tolist()) for seq in sequences]


def test_best_of_samples_return_the_n_with_the_highest_logprob_per_token(client, mrs):
    api, _, _ = client
    best = api.completions.create(model="a", prompt=mrs[1], max_tokens=8, temperature=1.0, seed=11, n=1, best_of=4,
                                  logprobs=0)  # fmt: skip
    draws = [api.completions.create(model="a", prompt=mrs[1], max_tokens=8, temperature=1.0, seed=11 + j, logprobs=0)
             for j in range(4)]  # fmt: skip

    def per_token(choice):
        values = choice.logprobs.token_logprobs
        return sum(values) / max(1, len(values))

    assert best.choices[0].text == max(draws, key=lambda d: per_token(d.choices[0])).choices[0].text


def test_list_prompts_echo_and_user(client, mrs):
    api, served, _ = client
    answer = api.completions.create(model="a", prompt=mrs[:3], max_tokens=6, echo=True, user="alice")
    assert [c.index for c in answer.choices] == [0, 1, 2]
    for choice, mr in zip(answer.choices, mrs):
        assert choice.text == mr + served.text("a", mr, max_tokens=6)


def test_streamed_chunks_join_to_the_answer_and_end_with_done(client, mrs):
    api, served, _ = client
    for fields in ({"extra_body": {"num_beams": 1}}, {"temperature": 1.0, "seed": 2}, {}):
        whole = api.completions.create(model="a", prompt=mrs[0], max_tokens=14, **fields).choices[0]
        chunks = list(api.completions.create(model="a", prompt=mrs[0], max_tokens=14, stream=True, **fields))
        assert "".join(c.choices[0].text for c in chunks) == whole.text
        assert chunks[-1].choices[0].finish_reason == whole.finish_reason
        if fields.get("extra_body") or "seed" in fields:  # one-beam rows stream as they decode
            assert len(chunks) > 2
    raw = served.client.post("/v1/completions", json={"model": "a", "prompt": mrs[0], "max_tokens": 3, "stream": True})
    assert raw.text.rstrip().endswith("data: [DONE]")


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"suffix": "x"}, "suffix"), ({"logit_bias": {"50256": -100}}, "logit_bias"), ({"presence_penalty": 1.0}, "presence_penalty"),
     ({"frequency_penalty": 0.5}, "frequency_penalty"), ({"echo": True, "logprobs": 1}, "echo"),
     ({"extra_body": {"temprature": 0.5}}, "temprature"), ({"temperature": 1.0, "extra_body": {"num_beams": 3}}, "num_beams"),
     ({"n": 2, "best_of": 1}, "best_of"), ({"stop": ["a", "b", "c", "d", "e"]}, "stop")],
)  # fmt: skip
def test_fields_that_cannot_be_honoured_are_refused_by_name(client, mrs, fields, param):
    api, _, _ = client
    with pytest.raises(openai.BadRequestError) as refused:
        api.completions.create(model="a", prompt=mrs[0], max_tokens=4, **fields)
    assert refused.value.body["param"] == param and param in refused.value.body["message"]


def test_token_prompts_and_chat_completions_are_refused_with_json(client, mrs):
    api, _, _ = client
    with pytest.raises(openai.BadRequestError, match="not token ids"):
        api.completions.create(model="a", prompt=[50, 51, 52], max_tokens=4)
    with pytest.raises(openai.NotFoundError, match="completion models"):
        api.chat.completions.create(model="a", messages=[{"role": "user", "content": mrs[0]}])


def test_a_prompt_past_the_source_limit_is_refused_unless_the_request_opts_in(client):
    api, served, _ = client
    long = " ".join(["name : Aromi | food : English"] * 40)  # past E2E's 128 source tokens
    with pytest.raises(openai.BadRequestError) as refused:
        api.completions.create(model="a", prompt=long, max_tokens=4)
    message = refused.value.body["message"]
    assert "at most 128" in message and "prompt is" in message and "truncate_prompt" in message
    cut = api.completions.create(model="a", prompt=long, max_tokens=4, extra_body={"truncate_prompt": True})
    assert cut.usage.prompt_tokens == 129  # 128 source tokens + EOS
    assert math.isfinite(cut.usage.total_tokens)
