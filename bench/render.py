"""Benchmark: a 700-word Vietnamese bulletin from ``render(ctx)`` to MP3 bytes, against the bare chain.

The bare chain is what a shell script would do: espeak-ng CLI -> ffmpeg two-pass ``loudnorm`` ->
MP3 (22.05 kHz mono 64 kbit/s), all via subprocess, measured in the same run. Goals: the
renderer within 1.3x of it on a cold cache, and a cache hit under 50 ms. The offline chain is
used (HUB_TTS_ENGINES=espeak). The last line printed is the figures as one JSON object.

    .venv/bin/python bench/render.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pluggy

import hub.hookspecs
from hub.config import Settings
from hub.plugins import Registrations
from hub.plugin_types import BulletinSnapshot, CommuneInfo, RenderContext
from hub_speech import normalize_text
from hub_speech.chain import speech_text

TITLE = "Thông báo của Ủy ban nhân dân xã Hữu Lũng về sản xuất vụ Đông Xuân và phòng, chống dịch bệnh mùa đông"

BODY = """\
Thực hiện Kế hoạch số 125/KH-UBND ngày 20/11/2026 của Ủy ban nhân dân tỉnh về triển khai sản xuất vụ Đông Xuân và phòng, chống dịch bệnh mùa đông, Ủy ban nhân dân xã Hữu Lũng thông báo tới toàn thể nhân dân trên địa bàn một số nội dung cần thực hiện trong tháng 12/2026 như sau.
Thứ nhất, về sản xuất nông nghiệp. Thời tiết những ngày tới tiếp tục có không khí lạnh tăng cường, nhiệt độ thấp nhất ở vùng núi có nơi dưới 8 độ C. Bà con cần chủ động che chắn chuồng trại, dự trữ rơm rạ, cỏ khô và thức ăn tinh cho trâu, bò, không thả rông gia súc lên núi cao vào ban đêm. Đối với diện tích lúa xuân muộn, các hộ gieo mạ từ ngày 05/01/2027 đến ngày 20/01/2027 theo đúng lịch thời vụ, sử dụng giống lúa có thời gian sinh trưởng ngắn, chống chịu tốt như giống lúa Thiên ưu 8 và Bắc thơm số 7. Khi nhiệt độ trung bình ngày xuống dưới 15 độ C, tuyệt đối không gieo cấy, phải che phủ nilon cho mạ để tránh chết rét. Hợp tác xã nông nghiệp Hữu Lũng sẽ cung ứng phân bón, vôi bột và thuốc bảo vệ thực vật theo hình thức trả chậm cho các hộ có nhu cầu, bà con đăng ký với trưởng thôn trước ngày 25/12/2026.
Thứ hai, về phòng, chống dịch bệnh cho người. Hiện nay trên địa bàn huyện đã ghi nhận 37 ca mắc sốt xuất huyết và một số ca cúm mùa. Để chủ động phòng bệnh, đề nghị các hộ gia đình thường xuyên vệ sinh nhà cửa, đậy kín các dụng cụ chứa nước, thả cá vào bể nước lớn, thu gom vỏ đồ hộp, lốp xe cũ và các vật dụng có thể đọng nước quanh nhà. Khi có người bị sốt cao đột ngột, đau đầu, đau mỏi người, xuất hiện chấm xuất huyết dưới da thì phải đưa ngay đến trạm y tế xã hoặc bệnh viện gần nhất, không tự ý điều trị tại nhà. Trạm y tế xã tổ chức tiêm chủng mở rộng cho trẻ em dưới 5 tuổi vào sáng thứ Bảy và Chủ nhật, ngày 14 và 15 tháng 12, từ 7 giờ 30 phút đến 11 giờ. Các gia đình mang theo sổ tiêm chủng và giấy khai sinh của trẻ, cho trẻ ăn no, mặc ấm trước khi tiêm.
Thứ ba, về phòng cháy, chữa cháy rừng và phòng cháy trong khu dân cư. Mùa hanh khô là thời điểm nguy cơ cháy rừng ở cấp cao. Nghiêm cấm đốt nương, đốt thực bì, đốt ong, đốt lửa sưởi trong rừng và ven rừng khi chưa được phép của cơ quan chức năng. Các hộ sử dụng bếp than, bếp củi để sưởi ấm phải có người trông coi, tuyệt đối không đốt than trong phòng ngủ đóng kín cửa vì có thể gây ngộ độc khí. Khi phát hiện cháy, bà con gọi ngay số điện thoại 114 hoặc báo cho trưởng thôn, công an xã để kịp thời huy động lực lượng chữa cháy.
Thứ tư, về thủ tục hành chính. Từ ngày 01/12/2026, bộ phận tiếp nhận và trả kết quả của xã tiếp nhận hồ sơ cấp giấy chứng nhận quyền sử dụng đất, đăng ký khai sinh, khai tử và chứng thực bản sao vào tất cả các ngày làm việc trong tuần. Người dân có thể nộp hồ sơ trực tuyến trên Cổng dịch vụ công quốc gia bằng tài khoản định danh điện tử mức độ 2. Công chức tư pháp hộ tịch sẽ hướng dẫn bà con cài đặt và sử dụng ứng dụng định danh điện tử vào chiều thứ Tư hằng tuần tại nhà văn hóa các thôn.
Ủy ban nhân dân xã đề nghị các trưởng thôn, chi hội trưởng các đoàn thể tuyên truyền sâu rộng nội dung thông báo này đến từng hộ gia đình. Kính chúc bà con sức khỏe, một mùa đông ấm áp, sản xuất thắng lợi. Xin cảm ơn bà con đã chú ý lắng nghe.
"""


class NoMedia:
    def path(self, sha256: str) -> Path | None:
        return None


def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hub.hookspecs)
    pm.load_setuptools_entrypoints("hub")
    return pm


def context(pm: pluggy.PluginManager, data_dir: Path) -> RenderContext:
    settings = Settings(data_dir=data_dir, tts_engines=["espeak"])
    bulletin = BulletinSnapshot(
        id="bench", revision=1, content_hash="0" * 64, title=TITLE, body=BODY, priority="normal",
        channels=("speaker",), targets=("26734",), approved_at=datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc),
    )
    work = data_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    return RenderContext(
        bulletin=bulletin, communes=(CommuneInfo("26734", "Xã Hữu Lũng"),), settings=settings,
        hook=Registrations(pm, settings), media=NoMedia(), work_dir=work, province=settings.province,
    )


def speech_renderer(pm: pluggy.PluginManager):
    for result in pm.hook.hub_register_renderers(settings=None):
        for renderer in result:
            if renderer.name == "speech":
                return renderer
    sys.exit("the speech renderer is not installed")


def cpu_seconds() -> float:
    """CPU time of this process and every finished child: a figure that other load cannot inflate."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stderr


def espeak_rate() -> int:
    """The words per minute the espeak plugin speaks at, so both sides make the same audio."""
    try:
        from hub_tts_espeak import EspeakSettings
    except ImportError:
        return 175
    return EspeakSettings().rate_wpm


def bare_chain(text: str, work: Path) -> tuple[float, bytes]:
    """espeak-ng -> loudnorm measure -> loudnorm linear + MP3, as a shell script would."""
    start = time.perf_counter()
    text_file, wav, mp3 = work / "text.txt", work / "raw.wav", work / "raw.mp3"
    text_file.write_text(text, encoding="utf-8")
    subprocess.run(["espeak-ng", "-v", "vi", "-s", str(espeak_rate()), "-f", str(text_file), "-w", str(wav)], check=True)
    log = run(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(wav), "-af",
               "loudnorm=I=-16:TP=-1.5:LRA=11:print_format=json", "-f", "null", "-"])
    m = json.loads(log[log.rindex("{"):log.rindex("}") + 1])
    run(["ffmpeg", "-hide_banner", "-nostdin", "-y", "-i", str(wav), "-af",
         "loudnorm=I=-16:TP=-1.5:LRA=11:linear=true:"
         f"measured_I={m['input_i']}:measured_TP={m['input_tp']}:measured_LRA={m['input_lra']}:"
         f"measured_thresh={m['input_thresh']}:offset={m['target_offset']}",
         "-ar", "22050", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k", str(mp3)])
    data = mp3.read_bytes()
    return time.perf_counter() - start, data


def qc(data: bytes, work: Path) -> dict[str, float]:
    path = work / "qc.mp3"
    path.write_bytes(data)
    log = run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true:framelog=verbose",
               "-f", "null", "-"])
    summary = log[log.rindex("Summary:"):]
    duration = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                               str(path)], capture_output=True, text=True, check=True).stdout
    return {"lufs": float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary)[1]),
            "true_peak_dbtp": float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary)[1]),
            "duration_s": round(float(duration), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold renders and bare chains to take the median of")
    args = parser.parse_args()

    pm = plugin_manager()
    renderer = speech_renderer(pm)
    words = len(f"{TITLE} {BODY}".split())
    subprocess.run(["espeak-ng", "-v", "vi", "-w", "/dev/null", "khởi động"], check=True)  # load voice data once

    cold, bare, cold_cpu, bare_cpu = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        root = Path(tmp)
        spoken = None
        for n in range(args.runs):
            # Interleaved, so drift in the machine's load falls on both sides alike.
            ctx = context(pm, root / f"cold-{n}")  # a fresh data folder: a cold cache every time
            start, cpu = time.perf_counter(), cpu_seconds()
            (media,) = renderer.render(ctx)
            cold.append(time.perf_counter() - start)
            cold_cpu.append(cpu_seconds() - cpu)
            spoken = media.meta["spoken_text"]
            cpu = cpu_seconds()
            seconds, raw = bare_chain(spoken, root)
            bare.append(seconds)
            bare_cpu.append(cpu_seconds() - cpu)

        hits, norms = [], []
        for _ in range(7):
            start = time.perf_counter()
            (again,) = renderer.render(ctx)
            hits.append(time.perf_counter() - start)
            # A hit still normalises the text (its result is part of the key): time that share alone.
            start = time.perf_counter()
            normalize_text(ctx.hook, ctx.settings, speech_text(TITLE, BODY))
            norms.append(time.perf_counter() - start)
        assert again.data == media.data

        ours, theirs = qc(media.data, root), qc(raw, root)

    cold_s, bare_s, hit_ms = statistics.median(cold), statistics.median(bare), statistics.median(hits) * 1000
    norm_ms = statistics.median(norms) * 1000
    ratio = cold_s / bare_s
    cpu_ratio = statistics.median(cold_cpu) / statistics.median(bare_cpu)
    print(f"bulletin: {words} words, {ours['duration_s']} s of audio ({media.meta['engine']})")
    print(f"render(ctx), cold cache:     {cold_s:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in cold)})")
    print(f"bare espeak+loudnorm chain: {bare_s:6.2f} s  (runs: {', '.join(f'{x:.2f}' for x in bare)})")
    print(f"ratio: {ratio:.2f}x wall clock (goal <= 1.3x); CPU time {statistics.median(cold_cpu):.2f} s vs "
          f"{statistics.median(bare_cpu):.2f} s = {cpu_ratio:.2f}x")
    print(f"cache hit: {hit_ms:.1f} ms (goal < 50 ms), of which text normalisation {norm_ms:.1f} ms")
    print(f"renderer MP3:   {ours['lufs']} LUFS, {ours['true_peak_dbtp']} dBTP, {ours['duration_s']} s")
    print(f"bare chain MP3: {theirs['lufs']} LUFS, {theirs['true_peak_dbtp']} dBTP, {theirs['duration_s']} s")
    print(json.dumps({
        "words": words, "audio_s": ours["duration_s"], "render_cold_s": round(cold_s, 3),
        "bare_chain_s": round(bare_s, 3), "ratio": round(ratio, 3),
        "render_cpu_s": round(statistics.median(cold_cpu), 3), "bare_chain_cpu_s": round(statistics.median(bare_cpu), 3),
        "cpu_ratio": round(cpu_ratio, 3), "cache_hit_ms": round(hit_ms, 2),
        "cache_hit_normalise_ms": round(norm_ms, 2), "cache_hit_without_normalise_ms": round(hit_ms - norm_ms, 2),
        "render_lufs": ours["lufs"], "render_true_peak_dbtp": ours["true_peak_dbtp"],
        "bare_lufs": theirs["lufs"], "bare_true_peak_dbtp": theirs["true_peak_dbtp"],
        "ratio_goal_met": ratio <= 1.3, "cache_hit_goal_met": hit_ms < 50,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
