"""Wall time and peak resident memory per ingestion stage, collected per run (Dagster metadata, bench)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StageTimings:
    """What a profiler measured: seconds inside each stage (summed over its entries) and the
    process's peak resident memory while the stage ran (stages never sampled are absent)."""

    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)  # bytes

    def rounded_seconds(self) -> dict[str, float]:
        """``stage_seconds`` metadata: seconds per stage, to the millisecond."""
        return {k: round(v, 3) for k, v in self.seconds.items()}

    def peak_rss_mb(self) -> dict[str, int]:
        """``stage_peak_rss_mb`` metadata: peak MiB per stage."""
        return {k: round(v / 2**20) for k, v in self.peak_rss.items() if k in self.seconds}


class StageProfiler:
    """Times ``with profiler.stage(name):`` blocks; a sampler thread reads the RSS while a stage
    is active (started by the first stage, stopped by :meth:`close` or leaving ``with``)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._seconds: dict[str, float] = defaultdict(float)
        self._peak: dict[str, int] = defaultdict(int)
        self._active: list[str] = []
        self._stopped = threading.Event()
        self._sampler: threading.Thread | None = None

    def __enter__(self) -> StageProfiler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stopped.set()
        if self._sampler is not None:
            self._sampler.join()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the wall time of the block to ``name`` and sample memory while it runs."""
        if self._sampler is None:
            self._sampler = threading.Thread(target=self._sample, daemon=True, name="stage-rss")
            self._sampler.start()
        started = time.perf_counter()
        self._active.append(name)
        try:
            yield
        finally:
            self._active.remove(name)
            self._seconds[name] += time.perf_counter() - started

    def timings(self) -> StageTimings:
        return StageTimings(dict(self._seconds), dict(self._peak))

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while True:
            if self._active:
                rss = me.memory_info().rss
                for name in list(self._active):
                    self._peak[name] = max(self._peak[name], rss)
            if self._stopped.wait(self.interval):
                return
