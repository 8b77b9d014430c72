#!/usr/bin/env python3
"""Download floor of a cold build (helper of bench/run.sh).

    floor.py LOGDIR RUNS

LOGDIR is the build-log directory of a store after a cold build (ROOT/nix/var/rnix/log).
Its `builtin:fetchurl` logs name each download ("downloading 'URL'..." then
"downloaded N bytes"). The mirror:// URLs are resolved from the user's configuration the
same way rnix does (RNIX_DEBIAN_MIRROR / RNIX_DEBIAN_SECURITY_MIRROR / apt sources;
RNIX_PYPI_INDEX / PIP_INDEX_URL / pip config / pip's own default index), outside the
timing; then all files are downloaded RUNS times with one plain `curl` invocation
(sequential, one connection per host, output discarded).

Prints one JSON object: files, bytes (as rnix logged them), and per run the seconds and
bytes curl transferred.
"""
import glob
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request


def apt_sources():
    """(uri, suites) of every enabled deb source, deb822 and one-line style."""
    out = []
    for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in open(f).read().split("\n\n"):
            kv = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                kv[k.strip().lower()] = v.split()
            if "deb" in kv.get("types", []) and "no" not in kv.get("enabled", []):
                for u in kv.get("uris", []):
                    out.append((u, kv.get("suites", [])))
    lists = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for f in lists:
        if not os.path.exists(f):
            continue
        for line in open(f):
            w = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
            if len(w) >= 3 and w[0] == "deb":
                out.append((w[1], [w[2]]))
    return out


def debian_mirror(security):
    env = os.environ.get("RNIX_DEBIAN_SECURITY_MIRROR" if security else "RNIX_DEBIAN_MIRROR")
    if env:
        return env
    for uri, suites in apt_sources():
        is_sec = any(s.endswith("-security") or s.endswith("/updates") for s in suites)
        if is_sec == security:
            return uri
    sys.exit("floor.py: no Debian %smirror configured; set %s" % (
        "security " if security else "",
        "RNIX_DEBIAN_SECURITY_MIRROR" if security else "RNIX_DEBIAN_MIRROR"))


def pypi_index():
    for var in ("RNIX_PYPI_INDEX", "PIP_INDEX_URL"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        r = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except OSError:
        pass
    try:  # pip's own default, read from pip at run time
        from pip._internal.models.index import PyPI
        return PyPI.simple_url
    except ImportError:
        sys.exit("floor.py: no Python package index configured; set RNIX_PYPI_INDEX")


_pages = {}


def resolve(url):
    if not url.startswith("mirror://"):
        return url
    kind, path = url[len("mirror://"):].split("/", 1)
    if kind in ("debian", "debian-security"):
        return debian_mirror(kind == "debian-security").rstrip("/") + "/" + path
    if kind == "pypi":
        project, filename = path.split("/", 1)
        page = pypi_index().rstrip("/") + "/" + project + "/"
        if page not in _pages:
            req = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                _pages[page] = json.load(r)
        for f in _pages[page].get("files", []):
            if f.get("filename") == filename:
                return urllib.parse.urljoin(page, f["url"]).split("#")[0]
        sys.exit("floor.py: %s not found on the index page of %s" % (filename, project))
    sys.exit("floor.py: cannot resolve %s" % url)


def main():
    logdir, runs = sys.argv[1], int(sys.argv[2])
    urls, total = [], 0
    for f in sorted(glob.glob(os.path.join(logdir, "*"))):
        if not os.path.isfile(f):
            continue
        text = open(f, errors="replace").read()
        m = re.search(r"downloading '([^']+)'\.\.\.", text)
        n = re.findall(r"downloaded (\d+) bytes", text)
        if m and n:
            urls.append(resolve(m.group(1)))
            total += int(n[-1])
    if not urls:
        sys.exit("floor.py: no downloads logged under " + logdir)
    result = {"files": len(urls), "bytes": total, "runs": []}
    for _ in range(runs):
        cmd = ["curl", "-sS", "--fail", "-w", "%{size_download}\n"]
        for u in urls:
            cmd += ["-o", "/dev/null", u]
        t = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True)
        secs = time.monotonic() - t
        if r.returncode != 0:
            sys.exit("floor.py: curl failed: " + r.stderr.strip())
        got = sum(int(float(x)) for x in r.stdout.split())
        result["runs"].append({"seconds": secs, "bytes": got})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
