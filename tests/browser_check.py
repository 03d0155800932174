"""Headless Chromium for the HTML report tests: find the binary, dump a page's DOM after its
inline scripts ran, take a screenshot, and decode a PNG with the standard library only.

Chromium runs with every background service off and a host resolver that resolves nothing, so
it cannot reach any network host: the pages are local files.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

#: Debian's package name first; CARBONSDK_CHROMIUM overrides.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = (
    "headless Chromium is required for the HTML report browser test: install Debian's "
    "'chromium' package (apt-get install -y chromium), or set CARBONSDK_CHROMIUM to a "
    "Chromium binary"
)
TIMEOUT_S = 90.0


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    override = os.environ.get("CARBONSDK_CHROMIUM", "").strip()
    if override:
        return override if Path(override).exists() else shutil.which(override)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _flags(profile_dir: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--mute-audio",
        "--hide-scrollbars",
        # Nothing resolves: a page (or Chromium itself) cannot reach any host.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile_dir}",
    ]


def _run(binary: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    return subprocess.run(
        [binary, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=env,
        check=False,
    )


def dump_dom(binary: str, page: Path, profile_dir: Path, *, window: str = "1000,1600") -> str:
    """The serialised DOM of ``page`` after load (inline scripts have run)."""
    proc = _run(
        binary,
        [*_flags(profile_dir), f"--window-size={window}", "--dump-dom", page.resolve().as_uri()],
    )
    if proc.returncode != 0 or "<html" not in proc.stdout:
        raise RuntimeError(
            f"chromium --dump-dom failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
        )
    return proc.stdout


def screenshot(
    binary: str, page: Path, png: Path, profile_dir: Path, *, window: str = "1000,2400"
) -> None:
    """Save a PNG screenshot of ``page`` at ``window`` ("W,H" in CSS pixels)."""
    proc = _run(
        binary,
        [
            *_flags(profile_dir),
            f"--window-size={window}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ],
    )
    if proc.returncode != 0 or not png.exists():
        raise RuntimeError(
            f"chromium --screenshot failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
        )


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG: ``(width, height, rows)`` where each
    row is ``width * 4`` bytes of RGBA."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos = 8
    idat = b""
    width = height = depth = ctype = interlace = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(
            f"unsupported PNG: depth {depth}, colour type {ctype}, interlace {interlace}"
        )
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        if ftype == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:  # Up
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif ftype == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif ftype != 0:
            raise ValueError(f"bad PNG filter type {ftype} on row {y}")
        prev = line
        if bpp == 3:
            rgba = bytearray()
            for i in range(0, stride, 3):
                rgba += line[i : i + 3] + b"\xff"
            rows.append(bytes(rgba))
        else:
            rows.append(bytes(line))
    return width, height, rows


def count_pixels(
    rows: list[bytes], rgb: tuple[int, int, int] | None = None, tolerance: int = 0
) -> int:
    """Pixels that are not white (``rgb`` None), or that are within ``tolerance`` of ``rgb``
    in every channel."""
    n = 0
    for row in rows:
        for i in range(0, len(row), 4):
            r, g, b = row[i], row[i + 1], row[i + 2]
            if rgb is None:
                if (r, g, b) != (255, 255, 255):
                    n += 1
            elif (
                abs(r - rgb[0]) <= tolerance
                and abs(g - rgb[1]) <= tolerance
                and abs(b - rgb[2]) <= tolerance
            ):
                n += 1
    return n
