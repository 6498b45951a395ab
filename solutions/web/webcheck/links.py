"""Links and assets: every internal link, anchor, image, script and stylesheet must resolve.

Targets are requested from the same local server the browser uses, so the check sees
what a visitor would. External links are requested only when their host is declared
(option external_hosts); every other one is listed as unchecked, never passed.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from .model import CheckName, CheckOutcome, CheckStatus, Finding, Page, Severity
from .source import Ref, Source, parse

SKIPPED_SCHEMES = ("mailto", "tel", "javascript", "data", "blob", "about")
LINK_TAGS = ("a", "area")
RULE_HELP = "https://developer.mozilla.org/en-US/docs/Learn_web_development/Howto/Web_mechanics/What_is_a_URL"

Fetch = Callable[[str], tuple[int, bytes]]
"""url -> (HTTP status or 0 when unreachable, body)."""


def http_fetch(url: str, use_proxy: bool = False, timeout: float = 10.0) -> tuple[int, bytes]:
    handlers = [] if use_proxy else [urllib.request.ProxyHandler({})]
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={"User-Agent": "orchestrator-web-check"})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (OSError, ValueError):
        return 0, b""


class Resolver:
    """Asks the server about each URL once."""

    def __init__(self, origin: str, fetch: Fetch = http_fetch) -> None:
        self.origin = origin
        self.fetch = fetch
        self.cache: dict[str, tuple[int, bytes]] = {}
        self.ids: dict[str, frozenset[str]] = {}

    def get(self, url: str) -> tuple[int, bytes]:
        if url not in self.cache:
            self.cache[url] = self.fetch(url)
        return self.cache[url]

    def anchors(self, url: str) -> frozenset[str]:
        if url not in self.ids:
            status, body = self.get(url)
            self.ids[url] = parse(body.decode("utf-8", "replace")).ids if 200 <= status < 400 else frozenset()
        return self.ids[url]


def _finding(page: Page, ref: Ref, rule: str, severity: Severity, message: str) -> Finding:
    return Finding(page.file, ref.line, ref.column, rule, severity, message, RULE_HELP)


def check_ref(
    page: Page,
    ref: Ref,
    source: Source,
    resolver: Resolver,
    external_hosts: Sequence[str],
    external_fetch: Fetch,
) -> Finding | None:
    url = ref.url
    if not url or (url.startswith("#") and url in ("#", "#top")):
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() in SKIPPED_SCHEMES:
        return None
    what = "link" if ref.tag in LINK_TAGS else f"<{ref.tag} {ref.attr}>"
    page_url = f"{resolver.origin}/{page.path}"
    absolute = urllib.parse.urljoin(page_url, url)
    target = urllib.parse.urlsplit(absolute)
    if f"{target.scheme}://{target.netloc}" != resolver.origin:
        host = (target.hostname or "").lower()
        if target.scheme not in ("http", "https") or host not in external_hosts:
            return _finding(
                page,
                ref,
                "link/unchecked",
                Severity.NOTE,
                f"external {what} {url} not checked: its host is not in options.external_hosts",
            )
        status, _ = external_fetch(absolute)
        if not 200 <= status < 400:
            got = f"HTTP {status}" if status else "unreachable"
            return _finding(
                page, ref, "link/external-broken", Severity.ERROR, f"external {what} {url}: {got}"
            )
        return None
    document = urllib.parse.urlunsplit((target.scheme, target.netloc, target.path, target.query, ""))
    if document != page_url or not url.startswith("#"):
        status, _ = resolver.get(document)
        if not 200 <= status < 400:
            rule = "link/broken" if ref.tag in LINK_TAGS else "asset/missing"
            got = f"HTTP {status}" if status else "no answer"
            return _finding(
                page, ref, rule, Severity.ERROR, f"{what} {url} does not resolve ({got} for {target.path})"
            )
    if target.fragment and target.fragment != "top":
        fragment = urllib.parse.unquote(target.fragment)
        ids = source.ids if document == page_url else resolver.anchors(document)
        if fragment not in ids:
            return _finding(
                page,
                ref,
                "link/anchor",
                Severity.ERROR,
                f"{what} {url}: no element with id {fragment!r} in {target.path}",
            )
    return None


def check(
    pages: Sequence[Page],
    workspace: Path,
    resolver: Resolver,
    external_hosts: Sequence[str],
    external_fetch: Fetch | None = None,
) -> CheckOutcome:
    fetch_out = external_fetch or (lambda u: http_fetch(u, use_proxy=True))
    findings: list[Finding] = []
    refs = 0
    for page in pages:
        path = workspace / page.file
        if path.is_file():
            source = parse(path.read_text(encoding="utf-8", errors="replace"))
        else:
            source = parse(resolver.get(f"{resolver.origin}/{page.path}")[1].decode("utf-8", "replace"))
        for ref in source.refs:
            refs += 1
            if found := check_ref(page, ref, source, resolver, external_hosts, fetch_out):
                findings.append(found)
    failed = any(f.severity == Severity.ERROR for f in findings)
    unchecked = sum(f.rule == "link/unchecked" for f in findings)
    reason = f"{refs} reference(s) in {len(pages)} page(s)" + (
        f", {unchecked} external unchecked" if unchecked else ""
    )
    return CheckOutcome(
        CheckName.LINKS, CheckStatus.FAILED if failed else CheckStatus.PASSED, reason, tuple(findings)
    )
