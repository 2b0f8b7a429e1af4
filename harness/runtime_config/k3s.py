"""k3s: /etc/rancher/k3s/registries.yaml, written and read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harness.errors import RvconformError
from harness.runtime_config.access import Mirror, RegistryAccess, endpoint_host, normalize_endpoint, quote

if TYPE_CHECKING:  # PyYAML loads when a registries.yaml is read: most runs read none
    import yaml

REGISTRIES_YAML = "/etc/rancher/k3s/registries.yaml"
FORM = ("k3s reads mirrors (REGISTRY: endpoint, rewrite) and configs (HOST[:PORT]: auth, tls); "
        "see https://docs.k3s.io/installation/private-registry")
Path = tuple[str | int, ...]
Where = dict[Path, int]
_CONFIG_FIELDS = {"auth": ("username", "password"), "tls": ("ca_file", "insecure_skip_verify")}
_UNSUPPORTED = {"auth": ("auth", "identitytoken"), "tls": ("cert_file", "key_file")}


def k3s_registries_yaml(mirrors: list[Mirror], accesses: dict[str, RegistryAccess]) -> str:
    """registries.yaml with ``mirrors`` in their order and a ``configs`` entry, by host, for each
    access that has credentials or TLS settings. Every string is double-quoted JSON, valid YAML."""
    lines = ["mirrors:" if mirrors else "mirrors: {}"]
    for mirror in mirrors:
        lines += [f"  {quote(mirror.registry)}:", "    endpoint:" if mirror.endpoints else "    endpoint: []"]
        lines += [f"      - {quote(endpoint)}" for endpoint in mirror.endpoints]
        if mirror.rewrites:
            lines.append("    rewrite:")
            lines += [f"      {quote(pattern)}: {quote(target)}" for pattern, target in mirror.rewrites]
    configured = sorted((a for a in accesses.values() if a.has_auth or a.has_tls_settings), key=lambda a: a.host)
    if configured:
        lines.append("configs:")
    for access in configured:
        lines += [f"  {quote(access.host)}:", *_config_lines(access)]
    return "\n".join(lines) + "\n"


def parse_k3s_registries(text: str, source: str = "registries.yaml"
                         ) -> tuple[list[Mirror], dict[str, RegistryAccess]]:
    """The mirrors and per-host settings of a registries.yaml, read with PyYAML.

    A config's scheme is that of the first mirror endpoint on its host, else what k3s assumes for a
    bare host (https, plain http for loopback). RvconformError, with the line, for anything else.
    """
    document, where = _load(text, source)
    top = _mapping(document, (), where, source, allowed=("mirrors", "configs"))
    mirrors = [_mirror(name, body, where, source)
               for name, body in _mapping(top.get("mirrors"), ("mirrors",), where, source).items()]
    configs = _mapping(top.get("configs"), ("configs",), where, source)
    return mirrors, {host: _access(host, body, mirrors, where, source) for host, body in configs.items()}


def _load(text: str, source: str) -> tuple[Any, Where]:
    """The document in ``text`` and the line of each key path (list items by index), from PyYAML's node
    marks; a duplicate key is an error (PyYAML would keep the last one silently)."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = ", ".join(filter(None, (getattr(error, "context", None), getattr(error, "problem", None))))
        raise fail(source, mark.line + 1 if mark else None, f"not valid YAML: {problem or error}") from None
    where: Where = {}
    if node is not None:
        _mark_lines(node, (), where, source)
    return document, where


def _mark_lines(node: yaml.Node, path: Path, where: Where, source: str) -> None:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            where[(*path, index)] = item.start_mark.line + 1
            _mark_lines(item, (*path, index), where, source)
    elif isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            name = _key_value(key)
            line = key.start_mark.line + 1
            if name in seen:
                raise fail(source, line, f"duplicate key {name!r}")
            seen.add(name)
            where[(*path, name)] = line
            _mark_lines(value, (*path, name), where, source)


def _key_value(key: yaml.Node) -> Any:
    """A mapping key as the document holds it (an unquoted ``5000`` is the number 5000)."""
    import yaml

    if not isinstance(key, yaml.ScalarNode):
        return None
    return yaml.safe_load(key.value) if key.style is None else key.value


def fail(source: str, line: int | None, problem: str) -> RvconformError:
    """An error for ``line`` of ``source`` (the file alone when the line is not known)."""
    where = f"{source} line {line}" if line else source
    return RvconformError(f"{where}: {problem}", fix=f"fix {source}; {FORM}")


def _config_lines(access: RegistryAccess) -> list[str]:
    lines = []
    if access.has_auth:
        lines.append("    auth:")
        lines += [f"      {key}: {quote(value)}" for key, value in
                  (("username", access.username), ("password", access.password)) if value is not None]
    if access.has_tls_settings:
        lines.append("    tls:")
        lines += [f"      ca_file: {quote(access.ca_file)}"] if access.ca_file else []
        lines += ["      insecure_skip_verify: true"] if access.skip_verify else []
    return lines


def _mirror(name: str, body: Any, where: Where, source: str) -> Mirror:
    path = ("mirrors", name)
    fields = _mapping(body, path, where, source, allowed=("endpoint", "rewrite"))
    endpoints = fields.get("endpoint") or []
    if not isinstance(endpoints, list):
        raise _fail(where, (*path, "endpoint"), source, f"mirror {name!r}: endpoint must be a list of URLs")
    for index, endpoint in enumerate(endpoints):
        if not isinstance(endpoint, str):
            raise _fail(where, (*path, "endpoint", index), source,
                        f"mirror {name!r}: endpoint items must be URL strings, found {endpoint!r}")
    rewrites = _mapping(fields.get("rewrite"), (*path, "rewrite"), where, source)
    if not all(isinstance(target, str) for target in rewrites.values()):
        raise _fail(where, (*path, "rewrite"), source, f"mirror {name!r}: rewrite must map patterns to strings")
    return Mirror(name, tuple(endpoints), tuple(rewrites.items()))


def _access(host: str, body: Any, mirrors: list[Mirror], where: Where, source: str) -> RegistryAccess:
    path = ("configs", host)
    parts = urlsplit(f"//{host}")
    if "://" in host or parts.path or not parts.hostname:
        raise _fail(where, path, source, f"configs key {host!r} is not a registry HOST[:PORT]")
    sections = _mapping(body, path, where, source, allowed=tuple(_CONFIG_FIELDS))
    values: dict[str, Any] = {}
    for section, fields in _CONFIG_FIELDS.items():
        section_path = (*path, section)
        values |= _mapping(sections.get(section), section_path, where, source, allowed=fields,
                           unsupported=_UNSUPPORTED[section])
    skip_verify = values.pop("insecure_skip_verify", False)
    if isinstance(skip_verify, str) and skip_verify.lower() in ("true", "false"):
        skip_verify = skip_verify.lower() == "true"
    if not isinstance(skip_verify, bool):
        raise _fail(where, (*path, "tls", "insecure_skip_verify"), source, "insecure_skip_verify must be true or false")
    for key, value in values.items():
        if not isinstance(value, str):
            raise _fail(where, (*path, _section_of(key), key), source,
                        f"{key} must be a string; quote it (unquoted, YAML reads it as {value!r})")
    on_host = [normalize_endpoint(e) for m in mirrors for e in m.endpoints if endpoint_host(e) == host]
    url = on_host[0] if on_host else normalize_endpoint(host)
    return RegistryAccess(url=f"{urlsplit(url).scheme}://{host}", ca_file=values.get("ca_file"),
                          skip_verify=skip_verify, username=values.get("username"),
                          password=values.get("password"))


def _section_of(key: str) -> str:
    return next(section for section, fields in _CONFIG_FIELDS.items() if key in fields)


def _mapping(value: Any, path: Path, where: Where, source: str, allowed: tuple[str, ...] = (),
             unsupported: tuple[str, ...] = ()) -> dict[str, Any]:
    """``value`` as a mapping (None is empty) whose keys are in ``allowed`` when that is given."""
    if value is None:
        return {}
    name = ".".join(map(str, path)) or "the document"
    if not isinstance(value, dict):
        raise _fail(where, path, source, f"{name} must be a mapping of KEY: VALUE lines")
    for key in value:
        if not isinstance(key, str):
            raise _fail(where, (*path, key), source, f"key {key!r} in {name} must be a string; quote it")
        if key in unsupported:
            raise _fail(where, (*path, key), source, f"{name}.{key} is valid for k3s but not handled by rvconform")
        if allowed and key not in allowed:
            raise _fail(where, (*path, key), source, f"unknown key {key!r} in {name}; k3s reads {', '.join(allowed)}")
    return value


def _fail(where: Where, path: Path, source: str, problem: str) -> RvconformError:
    return fail(source, where.get(path), problem)
