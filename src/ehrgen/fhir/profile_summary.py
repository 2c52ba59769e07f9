"""A small conformance checker driven by the IG profile summary text file.

Not a FHIR validator (HAPI's is, via `ehrgen validate`): it checks what the summary lists for a profile —
minimum cardinalities, slice maximums and FIXED pattern codes — so tests fail when a required element or a
fixed code goes missing. Summary line format (genomics-reporting-3.0.0-profile-summary.txt):
    === <name>  [<canonical>] type=<T> base=<B> kind=constraint
      <Path[:slice][.child...]> <min>..<max> <Type> [FIXED {json}] [BIND <strength> <valueset>]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HEADER = re.compile(r"^=== (\S+)\s+\[(\S+)\]\s+type=(\S+)")
_LINE = re.compile(r"^\s+(\S+)\s+(\d+)\.\.(\d+|\*)\s+(.*)$")


@dataclass
class Rule:
    path: str
    min: int
    max: int | None  # None = *
    pattern: Any = None


@dataclass
class Profile:
    name: str
    url: str
    type: str
    rules: list[Rule] = field(default_factory=list)


def parse_summary(path: Path) -> dict[str, Profile]:
    """Profiles by canonical URL."""
    profiles: dict[str, Profile] = {}
    current: Profile | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _HEADER.match(line)
        if m:
            current = Profile(name=m.group(1), url=m.group(2), type=m.group(3))
            profiles[current.url] = current
            continue
        m = _LINE.match(line)
        if not (m and current):
            continue
        rest = m.group(4)
        pattern = None
        if " FIXED " in f" {rest}":
            raw = rest.split("FIXED ", 1)[1]
            raw = raw.split(" BIND ", 1)[0]
            fixed = json.loads(raw)
            pattern = next(iter(fixed.values()))  # {"patternCoding": {...}} -> {...}
        current.rules.append(Rule(path=m.group(1), min=int(m.group(2)),
                                  max=None if m.group(3) == "*" else int(m.group(3)), pattern=pattern))
    return profiles


def matches(pattern: Any, value: Any) -> bool:
    """FHIR pattern semantics: every element of the pattern is present (lists: each item matches some item)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(matches(v, value.get(k)) for k, v in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and all(any(matches(p, v) for v in value) for p in pattern)
    return pattern == value


def _children(item: Any, name: str) -> list[Any]:
    if not isinstance(item, dict):
        return []
    if name.endswith("[x]"):
        base = name[:-3]
        vals = [v for k, v in item.items() if k.startswith(base) and k[len(base):][:1].isupper()]
    else:
        vals = [item[name]] if name in item else []
    out: list[Any] = []
    for v in vals:
        out.extend(v if isinstance(v, list) else [v])
    return out


class Checker:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        # slice discriminator: pattern on the slice's code/coding child, e.g. component:gene-studied.code
        self.slice_pattern: dict[str, tuple[str, Any]] = {}
        for r in profile.rules:
            segs = r.path.split(".")
            if r.pattern is not None and ":" in segs[-2] and segs[-1] in ("code", "coding"):
                self.slice_pattern[".".join(segs[:-1])] = (segs[-1], r.pattern)

    def _select(self, items: list[Any], seg: str, prefix: str) -> list[Any]:
        name, _, slice_name = seg.partition(":")
        out = []
        for it in items:
            out.extend(_children(it, name))
        if slice_name:
            key = f"{prefix}.{seg}"
            disc = self.slice_pattern.get(key)
            if disc is None:
                return []  # slice we cannot discriminate (extension slices): not checked
            child, pat = disc
            out = [v for v in out if any(matches(pat, c) for c in _children(v, child))]
        return out

    def check(self, resource: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        for r in self.profile.rules:
            segs = r.path.split(".")
            if any(s.startswith("extension:") for s in segs):
                continue
            # parents: every item the rule applies to (the last segment is checked per parent)
            parents: list[Any] = [resource]
            prefix = segs[0]
            for seg in segs[1:-1]:
                parents = self._select(parents, seg, prefix)
                prefix = f"{prefix}.{seg}"
            last = segs[-1]
            for parent in parents:
                vals = self._select([parent], last, prefix)
                if len(vals) < r.min:
                    problems.append(f"{r.path}: {len(vals)} < min {r.min}")
                if r.max is not None and len(vals) > r.max and ":" in last:
                    problems.append(f"{r.path}: {len(vals)} > max {r.max}")
                if r.pattern is not None and ":" not in last:
                    for v in vals:
                        if not matches(r.pattern, v):
                            problems.append(f"{r.path}: {json.dumps(v)} does not match fixed {json.dumps(r.pattern)}")
        return problems


def check_resource(resource: dict[str, Any], profiles: dict[str, Profile]) -> list[str]:
    """Problems of a resource against every summarised profile it claims in meta.profile."""
    problems: list[str] = []
    for url in resource.get("meta", {}).get("profile", []):
        prof = profiles.get(url)
        if prof is None:
            continue
        if prof.type != resource.get("resourceType"):
            problems.append(f"{url}: profile is for {prof.type}, resource is {resource.get('resourceType')}")
            continue
        problems.extend(f"{prof.name}: {p}" for p in Checker(prof).check(resource))
    return problems
