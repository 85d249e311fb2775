"""Benchmark: what the province's pronunciation dictionary (issue 16) costs the speech normaliser.

A hub on a fresh SQLite data folder (the real plugins: hub_normalize_vi through the hub's
registrations, as a render or the preview calls it) normalises the same 20 bulletin paragraphs
with dictionaries of 0, 100 and 1,000 entries (made-up place names and abbreviations, as a
province would add). For each size it times, in-process (``time.perf_counter``, CPU time with
``time.process_time``):

- ``steady``: one bulletin (20 paragraphs) with the dictionary cached, median of the runs;
- ``after change``: the first bulletin after an entry was added (the database read and the
  abbreviation pattern rebuilt), median of the runs.

It prints a table and, as its last line, one JSON object.

    .venv/bin/python bench/pronunciations.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.config import Settings  # noqa: E402
from hub.plugins import make_plugin_manager  # noqa: E402
from hub.runtime import Hub  # noqa: E402

PARAGRAPHS = [
    "Ngày 04/02/2026, HĐND xã Khau Phạ khóa XVII họp lúc 7h30 tại hội trường UBND xã.",
    "Trạm y tế xã tiêm vắc-xin sởi cho trẻ từ 9 tháng tuổi, bà con mang sổ tiêm chủng.",
    "Theo Quyết định số 1234/QĐ-UBND, BQLDA thôn Nà Pàn khởi công đường giao thông nông thôn dài 2,5 km.",
    "Dự báo đêm nay nhiệt độ thấp nhất -2°C đến 3°C, bà con chăm sóc đàn trâu bò, không thả rông.",
    "Mọi thắc mắc xin gọi đường dây nóng 0912 345 678 hoặc xem langson.gov.vn.",
] * 4


def _time(call) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from hub_speech.chain import normalize_text

    text = "\n".join(PARAGRAPHS)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-pron-") as tmp:
        settings = Settings(data_dir=Path(tmp), workers=0, tts_engines=["espeak"])
        hub = Hub.open(settings, make_plugin_manager(settings))
        try:
            hooks, service, added = hub.registrations, hub.services.pronunciations, 0
            normalize_text(hooks, settings, text)  # warm: lexicon files, compiled patterns
            for size in (0, 100, 1000):
                while added < size:
                    service.put(None, f"Bản Xá{added}", f"Bản Xà {added}")
                    added += 1
                normalize_text(hooks, settings, text)
                steady = [_time(lambda: normalize_text(hooks, settings, text)) for _ in range(args.runs)]
                changed = []
                for n in range(args.runs):
                    service.put(None, f"Thôn Mới{size}x{n}", f"Thôn Mời {n}")
                    changed.append(_time(lambda: normalize_text(hooks, settings, text)))
                added += args.runs
                spoken = normalize_text(hooks, settings, text)
                assert "Bản Xá" not in spoken and "BQLDA" in spoken
                results[size] = {
                    "steady_ms": round(statistics.median(w for w, _ in steady), 2),
                    "steady_cpu_ms": round(statistics.median(c for _, c in steady), 2),
                    "after_change_ms": round(statistics.median(w for w, _ in changed), 2),
                    "after_change_cpu_ms": round(statistics.median(c for _, c in changed), 2),
                }
        finally:
            hub.close()
    print("in-process timing, one bulletin of 20 paragraphs, median of", args.runs, "runs")
    print(f"{'entries':>8} {'steady ms (CPU)':>18} {'after a change ms (CPU)':>26}")
    for size, r in results.items():
        print(f"{size:>8} {r['steady_ms']:>9.2f} ({r['steady_cpu_ms']:>6.2f}) "
              f"{r['after_change_ms']:>15.2f} ({r['after_change_cpu_ms']:>6.2f})")
    print(json.dumps({"runs": args.runs, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
