"""The one shared trainer: optimizes only `model.trainable` (the prefix, or a baseline's parameters) (CPU, one GPU, or many via Accelerate).

AdamW, linear schedule with warmup, gradient clipping, gradient accumulation, periodic atomic
checkpoints and exact resume, and model selection on the dev loss (`model_selection.py`). `batch_size` is the global batch: with N processes each takes every
N-th example of it, so a 2-process run follows the same trajectory as a 1-process run.
"""

import contextlib
import math
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from prefix_tuning.errors import UserError
from prefix_tuning.lm.families import family_of
from prefix_tuning.prefix.packing import pack
from prefix_tuning.training.batching import collate_training, ordered_batches
from prefix_tuning.training.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from prefix_tuning.training.model_selection import BestCheckpoint, DevCurve, dev_loss
from prefix_tuning.training.run_logger import RunLogger
from prefix_tuning.training.settings import TrainSettings


def make_accelerator(mixed_precision: str = "auto") -> Accelerator:
    """`auto`: bf16 on a GPU that has it; fp16/bf16 as asked on GPU (BART: fp16, the original's); fp32 on CPU."""
    if mixed_precision == "auto":
        mixed_precision = "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    elif mixed_precision != "no" and not torch.cuda.is_available():
        print(f"note: mixed precision {mixed_precision} needs a GPU; training in fp32 on CPU")
        mixed_precision = "no"
    # Without cpu=True, Accelerate ignores torchrun's WORLD_SIZE on CPU and every process trains alone.
    return Accelerator(mixed_precision=mixed_precision, cpu=not torch.cuda.is_available())


def packing_start(model, longest: int) -> int | None:
    """Where real tokens' positions start in a packed batch (the prefix length), or None if the model takes padded
    batches: a method that packs, on a family whose packed attention is proven equal (`lm/families.py`), with
    prefix + the longest example inside any sliding window."""
    if not getattr(model, "packing_ready", False):
        return None
    start, family = model.added_positions(), family_of(model.lm.config)
    return start if family.fused_training and family.fits_window(model.lm.config, start + longest) else None


def _dev_summary(curve: DevCurve) -> dict:
    """The dev-loss curve of a run, its lowest point and whether it had reached a plateau."""
    best_step, best_loss = min(curve.points, key=lambda point: point[1], default=(None, math.nan))
    return {"best_step": best_step, "best_dev_loss": best_loss, "dev_curve": curve.points,
            "converged": curve.converged, "stopped_early": curve.stop}  # fmt: skip


def on_step_end(step: int, loss: float):
    """Hook called after every optimizer step (tests use it to simulate a crash)."""


def train_method(
    model,
    examples: list[tuple[list[int], list[int]]],
    settings: TrainSettings,
    run_dir: Path,
    pad_id: int,
    accelerator: Accelerator,
    logger: RunLogger | None = None,
    resume: bool = True,
    dev_examples: list | None = None,
) -> dict:
    """Train `model.trainable` on tokenized (input_ids, labels) examples; returns a summary of the run.

    With `settings.eval_every` > 0 the loss on `dev_examples` is logged every that many steps and at the
    end; with `settings.select_best` the weights of the lowest one are what the model holds afterwards.
    """
    if not examples:
        raise UserError("no training examples")
    run_dir = Path(run_dir)
    world, rank = accelerator.num_processes, accelerator.process_index
    lengths = [len(ids) for ids, _ in examples]

    def batches_of(epoch: int) -> list[list[int]]:
        # Batches smaller than the process count are dropped: every process needs at least one row.
        return [
            b
            for b in ordered_batches(settings.batch_order, lengths, settings.batch_size, settings.seed, epoch)
            if len(b) >= world
        ]

    epoch_batches = {0: batches_of(0)}
    steps_per_epoch = max(1, len(epoch_batches[0]) // settings.grad_accum)
    epochs = settings.epochs * settings.epochs_factor
    total_steps = settings.max_steps if settings.max_steps > 0 else max(1, round(epochs * steps_per_epoch))

    torch.manual_seed(settings.seed)
    params = [p for p in model.trainable.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, settings.warmup_steps, total_steps)
    step, extra = 0, {}
    if resume and has_checkpoint(run_dir):
        step, extra = load_checkpoint(run_dir, model.trainable, optimizer, scheduler)
        accelerator.print(f"resumed from {run_dir / 'checkpoint'} at step {step}/{total_steps}")
    best = BestCheckpoint(run_dir, extra)
    curve = DevCurve(settings.patience, settings.min_improvement, extra)
    validate = settings.eval_every > 0
    if validate and not dev_examples:
        raise UserError("train.eval_every > 0 needs dev examples (task.dev_split or a low-data dev_fraction)")
    wrapped = accelerator.prepare(model)
    model.train()

    packed_positions = packing_start(model, max(lengths)) if settings.packing else None

    def make_batch(chosen, device) -> dict:
        """The examples packed end to end (no padding: prefix/packing.py), or right-padded."""
        if packed_positions is not None:
            return {"packed": pack(chosen, packed_positions).to(device)}
        return {k: v.to(device) for k, v in collate_training(chosen, pad_id).items()}

    def micro_batch(index: int) -> list[int]:
        epoch, position = divmod(index, steps_per_epoch * settings.grad_accum)
        if epoch not in epoch_batches:
            epoch_batches.clear()
            epoch_batches[epoch] = batches_of(epoch)
        return epoch_batches[epoch][position][rank::world]

    start, real_tokens, last_loss, token_loss = time.perf_counter(), 0, math.nan, math.nan
    bar = tqdm(total=total_steps, initial=step, desc="train", unit="step", disable=not accelerator.is_main_process)
    while step < total_steps and not curve.stop:
        step_loss, nll_sum, target_tokens = 0.0, 0.0, 0
        for micro in range(settings.grad_accum):
            chosen = [examples[i] for i in micro_batch(step * settings.grad_accum + micro)]
            batch = make_batch(chosen, accelerator.device)
            real_tokens += sum(len(ids) for ids, _ in chosen) * world
            sync = micro == settings.grad_accum - 1
            with (
                accelerator.autocast(),
                accelerator.no_sync(wrapped) if not sync and world > 1 else contextlib.nullcontext(),
            ):
                out = wrapped(**batch, reduction=settings.loss_reduction)
                accelerator.backward(out.loss / settings.grad_accum)
            step_loss += out.loss.item() / settings.grad_accum
            # The method's summed NLL of its target tokens: a per-token loss comparable across batches and models.
            nll_sum += out.nll_sum.item()
            target_tokens += out.targets
        if settings.grad_clip > 0:
            accelerator.clip_grad_norm_(params, settings.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        last_loss = accelerator.reduce(torch.tensor(step_loss, device=accelerator.device), "mean").item()
        totals = accelerator.reduce(
            torch.tensor([nll_sum, target_tokens], device=accelerator.device, dtype=torch.float64), "sum"
        )
        token_loss = (totals[0] / totals[1]).item()
        bar.update(1)
        bar.set_postfix(loss=f"{last_loss:.3f}", per_token=f"{token_loss:.3f}")
        if logger is not None and (step % settings.log_every == 0 or step == total_steps):
            logger.log(
                {"train/loss": last_loss, "train/loss_per_token": token_loss, "train/lr": scheduler.get_last_lr()[0]},
                step,
            )
        if validate and (step % settings.eval_every == 0 or step == total_steps):
            loss = dev_loss(wrapped, dev_examples, pad_id, settings.eval_batch_size, accelerator)
            kept = settings.select_best and best.offer(loss, step, model.trainable, accelerator.is_main_process)
            curve.add(step, loss)
            if logger is not None:
                logger.log({"dev/loss_per_token": loss, "dev/best": float(kept)}, step)
        if step % settings.checkpoint_every == 0 or step == total_steps or curve.stop:
            if accelerator.is_main_process:
                save_checkpoint(run_dir, model.trainable, optimizer, scheduler, step, {**best.state(), **curve.state()})
            accelerator.wait_for_everyone()
        on_step_end(step, last_loss)
    bar.close()
    if curve.stop:
        accelerator.print(f"stopped early at step {step}: no dev improvement in {settings.patience} evaluations")
    model.eval()
    elapsed = time.perf_counter() - start
    if settings.select_best and best.step is not None:
        accelerator.wait_for_everyone()
        best.restore(model.trainable)
        accelerator.print(f"kept the step-{best.step} weights (dev loss {best.loss:.4f} per token)")
    return {
        **(_dev_summary(curve) if validate else {}),
        "steps": step,
        "max_steps": total_steps,
        "processes": world,
        "final_loss": last_loss,
        "final_loss_per_token": token_loss,
        "train_seconds": elapsed,
        "real_tokens_per_second": real_tokens / elapsed if elapsed > 0 else math.nan,
    }
