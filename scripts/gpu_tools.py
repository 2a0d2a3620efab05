"""Helpers for scripts/gpu-bundle (run here) and scripts/gpu-check (run on the GPU machine).

Standard library only (plus `packaging`, or pip's vendored copy), Python 3.9+:

    gpu_tools.py repack SRC.whl DST.whl [--strip]       a wheel re-zipped with LZMA (same files;
                                                         --strip: ELF libraries without symbol tables)
    gpu_tools.py unxz SRC.xz DST                         decompress an .xz file (no xz tool needed)
    gpu_tools.py probe --device D                        the host: Python, torch, CUDA, GPU, NVML
    gpu_tools.py plan --requirements F --wheels DIR      which bundled wheels this Python needs
    gpu_tools.py select --requirements F --downloads DIR the downloaded wheel file of each pin
    gpu_tools.py free-port                               a free TCP port on 127.0.0.1
    gpu_tools.py wait-http URL --timeout S [--pid P]     until URL answers 200 (or P exits)
    gpu_tools.py report --tracking-uri U --run-id R --device D   the run's system series and GPU tags

The requirements file (scripts/gpu-requirements.txt) has three kinds of lines:
    name==version   # why       a wheel in the bundle, installed unless this Python already has a
                                version that every installed package's requirements accept
    #host: name     # why       needed, never bundled: the GPU machine's image has it
    #omit: name     # why       a declared dependency that guardianflow's use never imports
and marks in a pin's comment: [nodeps] (its own dependencies are not required), [pure] (the
py3-none-any wheel, not a compiled one) and [fallback] (the host very likely has a good one; gpu-bundle
leaves it out first when the bundle would pass its size limit).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

# A requirement on one of these names is met by any of them (ultralytics asks for opencv-python;
# GPU images ship opencv-python-headless).
ALIASES = {
    "opencv-python": ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                      "opencv-contrib-python-headless"),
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _packaging():
    try:
        from packaging.markers import default_environment
        from packaging.requirements import Requirement
        from packaging.version import Version
    except ImportError:  # pip vendors it
        from pip._vendor.packaging.markers import default_environment  # type: ignore
        from pip._vendor.packaging.requirements import Requirement  # type: ignore
        from pip._vendor.packaging.version import Version  # type: ignore
    return Requirement, Version, default_environment


# ------------------------------------------------------------------------------------------
# repack / unxz (gpu-bundle)
# ------------------------------------------------------------------------------------------
def cmd_repack(ns) -> int:
    """Re-zip a wheel with LZMA. The members' bytes are unchanged, so RECORD's hashes (of the
    uncompressed content) still hold; pip reads LZMA members through zipfile."""
    import lzma

    preset = ns.preset

    class _Compressor:
        # zipfile's own LZMACompressor with a chosen preset (its default is preset 6, 8 MiB
        # dictionary); the properties travel in each member's header, so any reader decodes it.
        def __init__(self):
            self._comp = None

        def _init(self):
            import struct

            props = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1, "preset": preset})
            self._comp = lzma.LZMACompressor(
                lzma.FORMAT_RAW, filters=[lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)])
            return struct.pack("<BBH", 9, 4, len(props)) + props

        def compress(self, data):
            if self._comp is None:
                return self._init() + self._comp.compress(data)
            return self._comp.compress(data)

        def flush(self):
            if self._comp is None:
                return self._init() + self._comp.flush()
            return self._comp.flush()

    zipfile.LZMACompressor = _Compressor  # type: ignore[attr-defined]
    src, dst = Path(ns.src), Path(ns.dst)
    tmp = dst.with_name(dst.name + ".part")
    with zipfile.ZipFile(src) as zin:
        members = [(info, zin.read(info)) for info in zin.infolist()]
    changed = {}
    if ns.strip:
        members = [(info, _strip_elf(info.filename, data, changed)) for info, data in members]
    if changed:  # RECORD holds each file's sha256 and size: update the stripped ones'
        members = [(info, _update_record(data, changed) if info.filename.endswith(".dist-info/RECORD") else data)
                   for info, data in members]
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_LZMA) as zout:
        for info, data in members:
            out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            out.external_attr = info.external_attr
            out.create_system = info.create_system
            out.compress_type = zipfile.ZIP_STORED if info.is_dir() else zipfile.ZIP_LZMA
            zout.writestr(out, data)
    # Read everything back (CRC checked by zipfile) before calling it done.
    with zipfile.ZipFile(tmp) as z, zipfile.ZipFile(src) as zin:
        bad = z.testzip()
        if bad is not None or sorted(z.namelist()) != sorted(zin.namelist()):
            print(f"repack: {tmp} does not read back ({bad})", file=sys.stderr)
            return 1
    for name, sizes in changed.items():
        print(f"repack: stripped {name}: {sizes[0]} -> {sizes[1]} bytes", file=sys.stderr)
    tmp.replace(dst)
    return 0


def _strip_elf(name: str, data: bytes, changed: dict) -> bytes:
    """An ELF shared library without its symbol table and debug sections (strip --strip-unneeded:
    the dynamic symbols it exports stay), when that makes it smaller."""
    import shutil
    import subprocess
    import tempfile

    if not data.startswith(b"\x7fELF") or len(data) < (1 << 20) or not shutil.which("strip"):
        return data
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "lib.so")
        with open(path, "wb") as f:
            f.write(data)
        if subprocess.run(["strip", "--strip-unneeded", path]).returncode != 0:
            return data
        with open(path, "rb") as f:
            stripped = f.read()
    if len(stripped) >= len(data):
        return data
    changed[name] = (len(data), len(stripped), stripped)
    return stripped


def _update_record(record: bytes, changed: dict) -> bytes:
    import base64
    import csv
    import hashlib
    import io

    rows = list(csv.reader(io.StringIO(record.decode("utf-8"))))
    for row in rows:
        if row and row[0] in changed:
            data = changed[row[0]][2]
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            row[1:3] = [f"sha256={digest}", str(len(data))]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    for name in changed:
        changed[name] = changed[name][:2]
    return out.getvalue().encode("utf-8")


def cmd_unxz(ns) -> int:
    import lzma
    import shutil

    tmp = ns.dst + ".part"
    with lzma.open(ns.src, "rb") as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout, 4 << 20)
    os.chmod(tmp, 0o755)
    os.replace(tmp, ns.dst)
    return 0


# ------------------------------------------------------------------------------------------
# probe (gpu-check, with the host's Python)
# ------------------------------------------------------------------------------------------
def _find_nvml() -> tuple[str | None, str]:
    """libnvidia-ml.so.1: loadable by name, else a path that loads; (path or None, how)."""
    import ctypes

    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        return "libnvidia-ml.so.1", "loads by name"
    except OSError as e:
        first_error = str(e)
    candidates = []
    for d in ("/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu",
              "/usr/lib64", "/usr/local/cuda/lib64/stubs", "/run/nvidia/driver/usr/lib/x86_64-linux-gnu"):
        candidates.append(os.path.join(d, "libnvidia-ml.so.1"))
    for p in candidates:
        if os.path.exists(p) and "stubs" not in p:
            try:
                ctypes.CDLL(p)
                return p, "found by path"
            except OSError:
                continue
    return None, first_error


def cmd_probe(ns) -> int:
    info: dict = {
        "python": sys.executable,
        "python_version": ".".join(map(str, sys.version_info[:3])),
        "in_venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix),
        "site_packages": [],
    }
    import site

    try:
        info["site_packages"] = [p for p in site.getsitepackages() if os.path.isdir(p)]
    except AttributeError:
        pass
    try:
        user = site.getusersitepackages()
        if site.ENABLE_USER_SITE and os.path.isdir(user):
            info["site_packages"].append(user)
    except Exception:
        pass
    try:
        import lzma  # noqa: F401  (the bundle's wheels and binary are LZMA-compressed)

        info["lzma"] = True
    except ImportError:
        info["lzma"] = False
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_cuda_build"] = torch.version.cuda
        info["cuda_available"] = bool(torch.cuda.is_available())
        if info["cuda_available"]:
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception as e:  # noqa: BLE001
        info["torch"] = None
        info["torch_error"] = f"{type(e).__name__}: {e}"
    nvml, how = _find_nvml()
    info["nvml"] = nvml
    info["nvml_how"] = how
    err = sys.stderr
    print(f"python  {info['python_version']} at {info['python']}{' (a venv)' if info['in_venv'] else ''}", file=err)
    if info.get("torch"):
        print(f"torch   {info['torch']} (CUDA build: {info['torch_cuda_build']}; "
              f"torch.cuda.is_available(): {info['cuda_available']})", file=err)
    else:
        print(f"torch   MISSING: {info.get('torch_error')}", file=err)
    for i, name in enumerate(info.get("gpus") or []):
        print(f"gpu {i}   {name}", file=err)
    print(f"nvml    {nvml or 'NOT LOADABLE'} ({how})", file=err)
    print(json.dumps(info))
    return 0


# ------------------------------------------------------------------------------------------
# plan (gpu-check, with the new venv's Python, which also sees the host's packages)
# ------------------------------------------------------------------------------------------
def parse_requirements(path: str):
    """(bundled {name: version}, host {name: why}, omit {name: why}, nodeps {name}, pure {name},
    fallback {name})"""
    bundled, host, omit, nodeps, pure, fallback = {}, {}, {}, set(), set(), set()
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        m = re.match(r"#\s*(host|omit):\s*([A-Za-z0-9_.\-]+)\s*(?:#\s*(.*))?$", line)
        if m:
            (host if m.group(1) == "host" else omit)[canonical(m.group(2))] = m.group(3) or ""
            continue
        line, _, comment = line.partition("#")
        line = line.strip()
        if not line:
            continue
        m = re.match(r"([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)$", line)
        if not m:
            raise SystemExit(f"{path}: only name==version lines are allowed, got {raw!r}")
        name = canonical(m.group(1))
        bundled[name] = m.group(2)
        if "[nodeps]" in comment:
            nodeps.add(name)
        if "[pure]" in comment:
            pure.add(name)
        if "[fallback]" in comment:
            fallback.add(name)
    return bundled, host, omit, nodeps, pure, fallback


def _wheel_index(directory: str) -> dict:
    """canonical name -> (version, path, [Requires-Dist])"""
    out = {}
    for whl in sorted(Path(directory).glob("*.whl")):
        name, version = whl.name.split("-")[:2]
        with zipfile.ZipFile(whl) as z:
            meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
            meta = z.read(meta_name).decode("utf-8", "replace")
        requires = [v.strip() for k, v in (l.split(":", 1) for l in meta.split("\n\n", 1)[0].splitlines()
                                           if ":" in l) if k == "Requires-Dist"]
        out[canonical(name)] = (version, str(whl), requires)
    return out


def _installed() -> dict:
    """canonical name -> (version, [Requires-Dist]) for every distribution on sys.path (first wins)."""
    from importlib import metadata

    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        key = canonical(name)
        if key not in out:
            out[key] = (dist.version, list(dist.requires or []))
    return out


def cmd_plan(ns) -> int:
    Requirement, Version, default_environment = _packaging()
    bundled, host_expected, omit, nodeps, _, fallback = parse_requirements(ns.requirements)
    wheels = _wheel_index(ns.wheels)
    installed = _installed()
    env = default_environment()
    # A fallback that gpu-bundle left out (to stay under the size limit) must come from the host.
    for n in sorted(fallback):
        if n not in wheels:
            host_expected[n] = "a fallback left out of this bundle"
            del bundled[n]

    missing_wheels = sorted(n for n in bundled if n not in wheels or wheels[n][0] != bundled[n])
    if missing_wheels:
        print(f"plan: the bundle lacks {missing_wheels} (run scripts/gpu-bundle again)", file=sys.stderr)
        return 2

    def requirements_of(reqs):
        for text in reqs:
            r = Requirement(text)
            if r.marker is not None and not r.marker.evaluate({**env, "extra": ""}):
                continue
            yield r

    # Fix point: start from the host's copy of everything it has; a bundled package is installed when
    # the host lacks it or any *chosen* distribution's requirements reject the host's version.
    choice = {n: ("host" if n in installed else "bundle") for n in bundled}
    for _ in range(50):
        specs: dict[str, list] = {}
        for n in bundled:
            if n in nodeps:
                continue
            reqs = wheels[n][2] if choice[n] == "bundle" else installed[n][1]
            for r in requirements_of(reqs):
                specs.setdefault(canonical(r.name), []).append((n, r))
        changed = False
        for n in bundled:
            if choice[n] != "host":
                continue
            version = installed[n][0]
            if version != bundled[n] and any(not r.specifier.contains(version, prereleases=True)
                                              for _, r in specs.get(n, [])):
                choice[n] = "bundle"
                changed = True
        if not changed:
            break

    # Everything required by what ends up installed must be somewhere.
    problems = []
    final = {n: (bundled[n] if choice[n] == "bundle" else installed[n][0]) for n in bundled}
    for n in bundled:
        if n in nodeps:
            continue
        reqs = wheels[n][2] if choice[n] == "bundle" else installed[n][1]
        for r in requirements_of(reqs):
            dep = canonical(r.name)
            if dep in omit:
                continue
            names = ALIASES.get(dep, (dep,))
            have = [(d, final.get(canonical(d)) or (installed.get(canonical(d)) or (None,))[0]) for d in names]
            have = [(d, v) for d, v in have if v]
            if not have:
                problems.append(f"{n} needs {r} : not on this Python and not in the bundle")
            elif not any(r.specifier.contains(v, prereleases=True) for _, v in have):
                problems.append(f"{n} needs {r} : this Python has {have[0][0]}=={have[0][1]}")
    for dep in sorted(host_expected):
        names = ALIASES.get(dep, (dep,))
        if not any(canonical(d) in installed for d in names):
            problems.append(f"{dep} : expected on the GPU machine ({host_expected[dep] or 'not bundled'}), missing")

    import textwrap

    err = sys.stderr
    to_install = [n for n in sorted(bundled) if choice[n] == "bundle"]
    print(f"from the bundle ({len(to_install)}):", file=err)
    for n in to_install:
        hv = installed.get(n, (None,))[0]
        print(f"  {n}=={bundled[n]}" + (f"  (this Python's {hv} does not fit)" if hv else ""), file=err)
    host_used = [f"{n}=={installed[n][0]}" for n in sorted(bundled) if choice[n] == "host"]
    missing = []
    for dep in sorted(host_expected):
        names = ALIASES.get(dep, (dep,))
        hv = next((f"{d}=={installed[canonical(d)][0]}" for d in names if canonical(d) in installed), None)
        if hv:
            host_used.append(hv)
        else:
            missing.append(dep)
    print(f"from this Python ({len(host_used)}):", file=err)
    print(textwrap.fill(", ".join(host_used), width=100, initial_indent="  ", subsequent_indent="  "), file=err)
    if missing:
        print(f"missing: {', '.join(missing)}", file=err)
    if problems:
        print("plan: cannot install:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 3
    for n in sorted(bundled):
        if choice[n] == "bundle":
            print(wheels[n][1])
    return 0


# ------------------------------------------------------------------------------------------
# free-port / wait-http / report
# ------------------------------------------------------------------------------------------
def cmd_select(ns) -> int:
    """The downloaded wheel file for each pin (the py3-none-any one for [pure] pins), one a line."""
    bundled, _, _, _, pure, fallback = parse_requirements(ns.requirements)
    files = sorted(f for f in os.listdir(ns.downloads) if f.endswith(".whl"))
    status = 0
    for name, version in bundled.items():
        if ns.fallback_only and name not in fallback:
            continue
        found = [f for f in files if canonical(f.split("-")[0]) == name and f.split("-")[1] == version
                 and (name not in pure or f.endswith("-py3-none-any.whl"))]
        if not found:
            print(f"select: no {'pure ' if name in pure else ''}wheel for {name}=={version} in {ns.downloads}",
                  file=sys.stderr)
            status = 1
            continue
        print(found[0])
    return status


def cmd_free_port(ns) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


def cmd_wait_http(ns) -> int:
    deadline = time.monotonic() + ns.timeout
    while time.monotonic() < deadline:
        if ns.pid:
            try:
                os.kill(ns.pid, 0)
            except ProcessLookupError:
                print(f"wait-http: process {ns.pid} exited", file=sys.stderr)
                return 1
        try:
            with urllib.request.urlopen(ns.url, timeout=2) as r:
                if r.status == 200:
                    return 0
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    print(f"wait-http: {ns.url} did not answer within {ns.timeout:.0f} s", file=sys.stderr)
    return 1


def _get(base: str, path: str, **params) -> dict:
    url = base.rstrip("/") + path + "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read().decode("utf-8"))


def cmd_report(ns) -> int:
    base = ns.tracking_uri
    run = _get(base, "/api/2.0/mlflow/runs/get", run_id=ns.run_id)["run"]
    status = run["info"].get("status")
    metrics = {m["key"] for m in run.get("data", {}).get("metrics", [])}
    tags = {t["key"]: t["value"] for t in run.get("data", {}).get("tags", [])}
    series = sorted(k for k in metrics if k.startswith(("system/", "sys/")))
    print(f"run {ns.run_id}: {status}; {len(metrics)} metrics, {len(series)} of them system/ or sys/")
    summary = {"run_id": ns.run_id, "status": status, "series": {}, "gpu_tags": {}}
    if series:
        width = max(len(k) for k in series)
        print(f"  {'metric'.ljust(width)}  {'points':>6}  {'min':>12}  {'max':>12}  {'last':>12}")
    for key in series:
        points, token = [], None
        while True:
            params = {"run_id": ns.run_id, "metric_key": key, "max_results": 25000}
            if token:
                params["page_token"] = token
            page = _get(base, "/api/2.0/mlflow/metrics/get-history", **params)
            points += page.get("metrics", [])
            token = page.get("next_page_token")
            if not token:
                break
        points.sort(key=lambda m: (int(m.get("step", 0)), int(m.get("timestamp", 0))))
        values = [float(m["value"]) for m in points if m.get("value") is not None]
        if not values:
            print(f"  {key.ljust(width)}  {len(points):>6}  (no values)")
            continue
        print(f"  {key.ljust(width)}  {len(values):>6}  {min(values):>12.3f}  {max(values):>12.3f}  {values[-1]:>12.3f}")
        summary["series"][key] = {"points": len(values), "min": min(values), "max": max(values), "last": values[-1]}
    gpu_tags = {k: v for k, v in sorted(tags.items()) if k.startswith("guardianflow.gpu")}
    summary["gpu_tags"] = gpu_tags
    for k, v in gpu_tags.items():
        print(f"  tag {k} = {v}")
    if not gpu_tags:
        print("  (no guardianflow.gpu* tags)")
    gpu_series = [k for k in series if k.startswith("system/gpu_")]
    summary["gpu_series"] = len(gpu_series)
    if ns.json_out:
        Path(ns.json_out).write_text(json.dumps(summary, indent=2))
    if status != "FINISHED":
        print(f"report: the run is {status}, not FINISHED", file=sys.stderr)
        return 1
    if ns.device != "cpu" and not gpu_series:
        print("report: no system/gpu_* series was logged", file=sys.stderr)
        return 4
    # A multi-GPU (DDP) training (--device 0,1): every GPU metered under its own index.
    indices = [p for p in ns.device.split(":")[-1].split(",") if p.strip().isdigit()]
    missing = [i for i in indices if not any(k.startswith(f"system/gpu_{i}_") for k in gpu_series)] if len(indices) > 1 else []
    if missing:
        print(f"report: no system/gpu_N_* series for GPU(s) {', '.join(missing)} of --device {ns.device}", file=sys.stderr)
        return 4
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="gpu_tools.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("repack")
    s.add_argument("src")
    s.add_argument("dst")
    s.add_argument("--preset", type=int, default=9)
    s.add_argument("--strip", action="store_true", help="strip the symbol tables of ELF libraries (RECORD updated)")
    s = sub.add_parser("unxz")
    s.add_argument("src")
    s.add_argument("dst")
    s = sub.add_parser("probe")
    s.add_argument("--device", default="0")
    s = sub.add_parser("plan")
    s.add_argument("--requirements", required=True)
    s.add_argument("--wheels", required=True)
    s = sub.add_parser("select")
    s.add_argument("--requirements", required=True)
    s.add_argument("--downloads", required=True)
    s.add_argument("--fallback-only", action="store_true")
    sub.add_parser("free-port")
    s = sub.add_parser("wait-http")
    s.add_argument("url")
    s.add_argument("--timeout", type=float, default=120)
    s.add_argument("--pid", type=int)
    s = sub.add_parser("report")
    s.add_argument("--tracking-uri", required=True)
    s.add_argument("--run-id", required=True)
    s.add_argument("--device", default="0")
    s.add_argument("--json-out")
    ns = p.parse_args(argv)
    return {"repack": cmd_repack, "unxz": cmd_unxz, "probe": cmd_probe, "plan": cmd_plan, "select": cmd_select,
            "free-port": cmd_free_port, "wait-http": cmd_wait_http, "report": cmd_report}[ns.cmd](ns)


if __name__ == "__main__":
    sys.exit(main())
