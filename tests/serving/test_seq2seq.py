"""Encoder-decoder prefixes (the paper's BART runs: encoder, decoder and cross-attention prefixes) served from the
same kind of folder by a server started for that base model: answers equal offline decoding with the prefix,
sampling is reproducible with a seed, n returns the n best beams, what is not computed is refused."""

import openai
import pytest
import torch
from omegaconf import OmegaConf

from prefix_tuning.generation.decode import decode
from prefix_tuning.lm.loading import load_base_model
from prefix_tuning.paths import CONFIG_DIR
from prefix_tuning.prefix.file_format import save_prefix
from prefix_tuning.prefix.seq2seq import Seq2SeqPrefix, Seq2SeqPrefixLM
from prefix_tuning.prefix.seq2seq_layouts import seq2seq_geometries
from prefix_tuning.serving.task_decoding import task_decoding

IDENTITY = {"base_model": "tiny-random-bart-seed0", "architecture": "bart", "task": "e2e"}


@pytest.fixture
def bart(tmp_path, serve, tiny_tokenizer):
    lm = load_base_model(OmegaConf.load(CONFIG_DIR / "model" / "tiny-bart.yaml"), tiny_tokenizer)
    generator = torch.Generator().manual_seed(3)
    kvs = {part: torch.randn(g.n_layers, 2, g.n_kv_heads, 4, g.head_dim, generator=generator) * 2
           for part, g in seq2seq_geometries(lm.config).items()}  # fmt: skip
    save_prefix(tmp_path / "summary.safetensors", kvs, IDENTITY, {"prefix": {"prefix_length": 4}})
    served = serve(tmp_path)
    api = openai.OpenAI(api_key="unused", base_url="http://testserver/v1", http_client=served.client, max_retries=0)
    return api, served, kvs


def offline(served, kvs, prompt, **changes):
    from dataclasses import replace

    settings = replace(task_decoding("e2e").settings, **changes)
    model = Seq2SeqPrefixLM(served.batcher.lm, Seq2SeqPrefix.fixed(kvs))
    return decode(model, served.serving.tokenizer, [prompt], settings, engine=False)[0]


def test_an_encoder_decoder_prefix_answers_as_offline_decoding(bart, mrs):
    api, served, kvs = bart
    for mr in mrs[:3]:
        got = api.completions.create(model="summary", prompt=mr, max_tokens=8).choices[0].text
        assert got == offline(served, kvs, mr, max_new_tokens=8, min_new_tokens=5)
    assert served.client.get("/v1/models").json()["data"][0]["prefix_length"] == 4


def test_encoder_decoder_sampling_n_beams_and_refusals(bart, mrs):
    api, served, kvs = bart
    sample = [api.completions.create(model="summary", prompt=mrs[0], max_tokens=8, temperature=1.0, seed=4)
              for _ in range(2)]  # fmt: skip
    assert sample[0].choices[0].text == sample[1].choices[0].text
    beams = api.completions.create(model="summary", prompt=mrs[0], max_tokens=8, n=2)
    assert len({c.text for c in beams.choices}) == 2
    assert beams.choices[0].text == offline(served, kvs, mrs[0], max_new_tokens=8, min_new_tokens=5)
    with pytest.raises(openai.BadRequestError, match="not computed for encoder-decoder"):
        api.completions.create(model="summary", prompt=mrs[0], max_tokens=4, logprobs=1)


def test_a_decoder_only_prefix_in_an_encoder_decoder_folder_is_refused(bart, write_prefix, tmp_path, mrs):
    api, served, _ = bart
    write_prefix(tmp_path / "causal.safetensors")
    refused = served.client.get("/health").json()["refused"]
    assert (
        "is a decoder-only prefix, but this server's base model tiny-random-bart-seed0 is an encoder-decoder"
        in (refused["causal"])
    )
