"""One worker owns the frozen LM and decodes every waiting and running request together, one prefix per row,
with continuous batching: a request joins the running batch at the next decode step and leaves it the
moment its answer is final (generation/beam_engine.py, which makes the choices `generate` makes).

Each request is a `Job`: its prompt ids, its prefix P, its search settings and a future for its new token
ids. Jobs with equal settings share one `BeamEngine` (so one step reads the LM's weights once for all
their rows); each row attends to its own prefix only (its own cache rows), and its ids go to its own
future only. The answer of a job does not depend on what else is in the batch: the engine follows each
item's own generated-token count, as every rule of `generate`'s beam search does.

Cancelling (a client that disconnected): a waiting job leaves the queue and is never decoded; a running
job's rows are freed at the worker's next step and its result is never computed.
"""

import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field

import torch

from prefix_tuning.generation.beam_engine import BeamEngine, Item, SearchSettings
from prefix_tuning.generation.token_choice import Sampling
from prefix_tuning.prefix.causal import causal_generate
from prefix_tuning.prefix.seq2seq import seq2seq_generate


@dataclass(eq=False)
class Job:
    """One row of a request: prompt ids, P [layers, 2, kv_heads, L, head_dim] (or None), search settings, what it
    asks of the engine beyond them (`beam_engine.Item`: sampling, log-probs, n best beams), and a future for its
    best new ids (`results`: every returned hypothesis with its log-probs, set before the future)."""

    ids: list[int]
    kv: torch.Tensor | None
    search: SearchSettings
    sampling: Sampling | None = None
    logprobs: int | None = None
    returns: int = 1
    progress: Callable[[list[int]], None] | None = None  # called from the worker with its tokens so far (1 beam)
    generate: dict | None = None  # a row decoded alone by `generate`: its keyword arguments
    future: Future = field(default_factory=Future)
    results: list | None = None
    arrived: float = field(default_factory=time.monotonic)
    abandoned: bool = False  # its client left while it was decoding: its rows are freed at the next step


class Batcher:
    """The queue and the worker thread; `stats` counts what happened (shown by GET /health)."""

    def __init__(self, lm, pad_id: int, max_batch: int = 32):
        self.lm, self.pad_id, self.max_batch = lm, pad_id, max_batch
        self._pending: list[Job] = []
        self._running: list[Job] = []
        self._cond = threading.Condition()
        self._paused = self._stopped = False
        self._thread: threading.Thread | None = None
        self._engines: dict[SearchSettings, BeamEngine] = {}
        self._alone: list[Job] = []  # rows each decoded by `generate` alone
        self.stats = {"steps": 0, "rows": 0, "item_steps": 0, "cancelled": 0, "abandoned": 0, "largest_batch": 0}
        # rows: requests answered; item_steps: requests decoded, summed over steps (/ steps: the mean batch)

    def start(self):
        with self._cond:
            if self._thread is None:
                self._stopped = False
                self._thread = threading.Thread(target=self._loop, name="prefix-batcher", daemon=True)
                self._thread.start()

    def stop(self):
        """End the worker after its current step; waiting and running jobs are cancelled."""
        with self._cond:
            self._stopped = True
            for job in self._pending + self._running:
                job.future.cancel()
            self._pending.clear()
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def pause(self):
        """Take no new job until `resume` (jobs keep queueing): tests use it to make jobs arrive together."""
        with self._cond:
            self._paused = True

    def resume(self):
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def submit(self, job: Job) -> Future:
        with self._cond:
            if self._stopped:
                raise RuntimeError("the batcher is stopped")
            self._pending.append(job)
            self._cond.notify_all()
        return job.future

    def cancel(self, job: Job):
        """A waiting job leaves the queue; a running one is abandoned (its rows are freed at the next step)."""
        with self._cond:
            if job in self._pending:
                self._pending.remove(job)
                job.future.cancel()
                self.stats["cancelled"] += 1
            elif job in self._running and not job.abandoned:
                job.abandoned = True
                self.stats["abandoned"] += 1

    def snapshot(self) -> dict:
        with self._cond:
            return {
                **self.stats,
                "queued": len(self._pending),
                "running": len(self._running),
                "engines": len(self._engines),
            }

    def _admit(self) -> bool:
        """Move waiting jobs into their engines and drop abandoned ones; False when stopped."""
        with self._cond:
            while not self._stopped and (self._paused or not self._pending) and not self._running:
                self._cond.wait()
            if self._stopped:
                return False
            arrived = (
                [] if self._paused else [job for job in self._pending if job.future.set_running_or_notify_cancel()]
            )
            if not self._paused:
                self._pending = []
            abandoned = [job for job in self._running if job.abandoned]  # stay `running` until answered below
            self._running += arrived
        self._alone += [job for job in arrived if job.generate is not None]
        for job in arrived:
            if job.generate is not None:
                continue
            engine = self._engines.get(job.search)
            if engine is None:
                engine = self._engines[job.search] = BeamEngine(
                    self.lm, job.search, self.max_batch * job.search.num_beams
                )
            engine.add(
                Item(job.ids, job.kv, key=job, sampling=job.sampling, logprobs=job.logprobs, returns=job.returns)
            )
        for job in abandoned:
            self._engines[job.search].cancel(job)
            if not job.future.done():  # a running future cannot be cancelled; nobody reads this
                job.future.set_exception(CancelledError("the client left"))
        if abandoned:  # only now: a job leaves `running` answered, never before
            with self._cond:
                gone = {id(job) for job in abandoned}
                self._running = [job for job in self._running if id(job) not in gone]
        return True

    def _decode_alone(self):
        """One row with `generate`: an encoder-decoder's (its three prefixes) or a causal family's the engine is not
        proven on (`lm/families.py`); sampling seeded per row."""
        job = self._alone.pop(0)
        if job.abandoned or job.future.done():
            return
        try:
            if job.sampling is not None and job.sampling.seed is not None:
                torch.manual_seed(job.sampling.seed)
            ids = torch.tensor([job.ids], device=self.lm.device)
            with torch.no_grad():
                run = seq2seq_generate if self.lm.config.is_encoder_decoder else causal_generate
                out = run(self.lm, ids, torch.ones_like(ids), job.kv, **job.generate)
            results = [(row.tolist(), None) for row in out]  # the generated tokens, best first
        except Exception as err:  # this request gets the error; the worker goes on serving
            job.future.set_exception(err)
            return
        finally:
            with self._cond:
                self._running = [j for j in self._running if j is not job]
        with self._cond:
            self.stats["steps"] += 1
            self.stats["rows"] += 1
            self.stats["item_steps"] += 1
            self.stats["largest_batch"] = max(self.stats["largest_batch"], 1)
        job.results = results
        job.future.set_result(results[0][0])

    def _loop(self):
        while self._admit():
            if self._alone:
                self._decode_alone()
            for settings, engine in list(self._engines.items()):
                if not engine.busy():
                    continue
                try:
                    with torch.no_grad():
                        done = engine.step()
                    error = None
                except Exception as err:  # these requests get the error; the worker goes on serving
                    done, error = [*engine.active, *engine.waiting], err
                    self._engines.pop(settings)
                with self._cond:  # counted before any answer leaves, so an answered request is always counted
                    self.stats["steps"] += 1
                    self.stats["rows"] += len(done)
                    self.stats["item_steps"] += len(engine.active) + len(done)
                    self.stats["largest_batch"] = max(self.stats["largest_batch"], len(engine.active) + len(done))
                    finished = {id(item.key) for item in done}
                    self._running = [job for job in self._running if id(job) not in finished]
                for item in engine.active:
                    if item.key.progress is not None and not item.key.abandoned:
                        item.key.progress(list(item.running[0]))
                for item in done:
                    if item.key.future.done():  # cancelled meanwhile
                        continue
                    if error is None and item.error is None:
                        item.key.results = item.results
                        item.key.future.set_result(item.result)
                    else:
                        item.key.future.set_exception(error or item.error)
