"""Serve many prefixes of one frozen LM over an OpenAI-compatible HTTP API, one prefix per batch row.

    python -m prefix_tuning.serve --prefixes DIR [--host 127.0.0.1] [--port 8000] [--max-batch 32] [--model M]
        [--device cuda|cpu] [--api-key KEY] [--max-queue N] [--timeout S] [--shutdown-grace S]
    python -m prefix_tuning.serve import-peft PEFT_DIR OUT.safetensors --task e2e [--model M]
    python -m prefix_tuning.serve export-peft PREFIX.safetensors|RUN_DIR OUT_DIR

Every `DIR/<name>.safetensors` (or run folder `DIR/<name>/prefix.safetensors`) is the model `<name>`; the
base LM is the one the files were made for (`--model`: a configs/model name or id, for an empty folder).
Endpoints: GET /health, GET /metrics, GET /v1/models, POST /v1/completions, POST /v1/chat/completions (a 404
saying the models are completion models); see prefix_tuning/serving/. SIGTERM (or Ctrl-C): no new connections,
in-flight requests get up to --shutdown-grace seconds to finish, then are cancelled; the process exits 0.
"""

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

import uvicorn

from prefix_tuning.core.geometry import KVGeometry
from prefix_tuning.errors import UserError, exit_on_user_error
from prefix_tuning.serving.app import create_app
from prefix_tuning.serving.base_model import load_served_model, model_config_named
from prefix_tuning.serving.peft_interop import export_peft, import_peft, read_peft_config
from prefix_tuning.serving.startup import build_serving
from prefix_tuning.serving.task_decoding import default_task_config


def serve(argv: list[str]):
    parser = argparse.ArgumentParser(prog="python -m prefix_tuning.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--prefixes", required=True, type=Path, help="folder of prefix files (one model each)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-batch", type=int, default=32, help="most requests decoding together (per settings)")
    parser.add_argument("--model", help="base model (configs/model name or id); default: the files' own")
    parser.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--api-key", default=os.environ.get("PREFIX_TUNING_API_KEY"),
                        help="require Authorization: Bearer KEY on /v1 (default: $PREFIX_TUNING_API_KEY; none: open)")  # fmt: skip
    parser.add_argument(
        "--max-queue", type=int, help="rows waiting before requests are refused with 429 (default: no bound)"
    )
    parser.add_argument("--timeout", type=float, help="seconds a completion may take before 504 (default: none)")
    parser.add_argument("--shutdown-grace", type=float, default=30.0, help="seconds in-flight requests get at SIGTERM")
    args = parser.parse_args(argv)
    serving = build_serving(args.prefixes, args.model, args.device, args.max_batch, args.api_key, args.max_queue,
                            args.timeout)  # fmt: skip
    served, _ = serving.store.scan()
    print(
        f"serving {len(served)} prefixes of {serving.base_model} from {args.prefixes} at http://{args.host}:{args.port}"
    )
    config = uvicorn.Config(create_app(serving), host=args.host, port=args.port, log_level="warning",
                            timeout_graceful_shutdown=args.shutdown_grace)  # fmt: skip
    GracefulServer(config).run()
    print("server stopped")


class GracefulServer(uvicorn.Server):
    """uvicorn's server, ending with exit code 0 on SIGTERM/SIGINT: it stops taking connections, lets in-flight
    requests finish within --shutdown-grace seconds, cancels what is left (the worker stops), and returns (uvicorn's
    own handling re-raises the signal after shutdown, so the process would die of it)."""

    @contextlib.contextmanager
    def capture_signals(self):
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum, frame):
        self.should_exit = True


def import_command(argv: list[str]):
    parser = argparse.ArgumentParser(prog="python -m prefix_tuning.serve import-peft")
    parser.add_argument(
        "peft_dir", type=Path, help="PEFT checkpoint folder (adapter_config.json + adapter_model.safetensors)"
    )
    parser.add_argument("out", type=Path, help="our prefix file to write (<name>.safetensors)")
    parser.add_argument("--task", required=True, help="the task the prefix was trained on (its decoding settings)")
    parser.add_argument("--model", help="base model (configs/model name or id); default: base_model_name_or_path")
    args = parser.parse_args(argv)
    config = read_peft_config(args.peft_dir)
    default_task_config(args.task)  # an unknown task fails before the model loads
    name = args.model or config.get("base_model_name_or_path")
    if not name:
        raise UserError(f"{args.peft_dir} names no base model (base_model_name_or_path); pass --model")
    lm, _, identity = load_served_model(model_config_named(name), "cpu")
    kv = import_peft(args.peft_dir, args.out, KVGeometry.of(lm.config), {**identity, "task": args.task})
    print(f"wrote {args.out}: prefix of {kv.shape[-2]} positions for {identity['base_model']}, task {args.task}")


def export_command(argv: list[str]):
    parser = argparse.ArgumentParser(prog="python -m prefix_tuning.serve export-peft")
    parser.add_argument("prefix", type=Path, help="our prefix file, or a run folder")
    parser.add_argument("out_dir", type=Path, help="PEFT checkpoint folder to write")
    args = parser.parse_args(argv)
    out = export_peft(args.prefix, args.out_dir)
    print(f"wrote {out} (load it with peft.PeftModel.from_pretrained(base_model, {str(out)!r}))")


COMMANDS = {"import-peft": import_command, "export-peft": export_command}


@exit_on_user_error
def main(argv: list[str] | None = None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return serve(argv)


if __name__ == "__main__":
    main()
