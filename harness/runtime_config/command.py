"""``rvconform config k3s|containerd|docker --registry URL``: print a runtime's registry config to install."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from harness.errors import RvconformError
from harness.runtime_config.access import Mirror, RegistryAccess, parse_registry
from harness.runtime_config.containerd import CERTS_D, containerd_hosts_toml, hosts_dir_path
from harness.runtime_config.docker import DAEMON_JSON, docker_cert_paths, docker_daemon_json
from harness.runtime_config.k3s import REGISTRIES_YAML, k3s_registries_yaml

DEFAULT_MIRRORED_REGISTRY = "docker.io"


def main(argv: Sequence[str]) -> int:
    """Print the registry configuration for one runtime; RvconformError for bad input."""
    args = list(argv)
    if any(a == "--password" or a.startswith("--password=") for a in args):
        # Refused before argparse, whose error message would echo the password back.
        raise RvconformError("--password is not accepted: a password in argv ends up in shell history and ps",
                             fix="export it in an environment variable and pass --password-env VARIABLE")
    options = _parser().parse_args(args)
    access = _access(options)
    printers = {"k3s": _print_k3s, "containerd": _print_containerd, "docker": _print_docker}
    printers[options.runtime](access, options)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rvconform config", allow_abbrev=False,
        description="Print the registry configuration a runtime needs to pull from REGISTRY, for a user to install: "
        f"k3s {REGISTRIES_YAML}, containerd {CERTS_D}/NAME/hosts.toml, docker {DAEMON_JSON}.",
    )
    parser.add_argument("runtime", choices=("k3s", "containerd", "docker"))
    parser.add_argument("--registry", required=True, help="http://HOST:PORT, https://HOST:PORT or HOST:PORT (http)")
    parser.add_argument("--mirror", action="append", metavar="NAME",
                        help=f"registry name to mirror to REGISTRY (default {DEFAULT_MIRRORED_REGISTRY}; repeatable)")
    parser.add_argument("--fallback", metavar="URL", help="endpoint tried after REGISTRY for the mirrored names")
    parser.add_argument("--rewrite", action="append", default=[], metavar="PATTERN=REPLACEMENT",
                        help='k3s repository rewrite, e.g. "^riscv64/(.*)=riscv64/$1" (repeatable)')
    parser.add_argument("--ca-file", metavar="PATH", help="CA certificate of an https registry, as the board sees it")
    parser.add_argument("--skip-verify", action="store_true", help="do not verify an https registry's certificate")
    parser.add_argument("--username", help="registry user")
    parser.add_argument("--password-env", metavar="VARIABLE", help="environment variable holding the password")
    parser.add_argument("--auth-header", action="store_true",
                        help="containerd: put the credentials in an Authorization header of hosts.toml (HTTP Basic "
                        "registries; the output then holds the password: install it mode 0600)")
    parser.add_argument("--merge", metavar="DAEMON_JSON", help="docker: an existing daemon.json to merge into")
    return parser


def _access(options: argparse.Namespace) -> RegistryAccess:
    access = parse_registry(options.registry)
    if (options.ca_file or options.skip_verify) and access.insecure:
        raise RvconformError(f"--ca-file and --skip-verify are for https registries; {access.url} is plain HTTP",
                             fix="drop them, or give the registry as https://HOST:PORT")
    if bool(options.username) != bool(options.password_env):
        raise RvconformError("--username and --password-env go together",
                             fix="pass both: --username USER --password-env VARIABLE (the password in VARIABLE)")
    password = None
    if options.password_env:
        password = os.environ.get(options.password_env)
        if password is None:
            raise RvconformError(f"environment variable {options.password_env} is not set",
                                 fix=f"export {options.password_env}=... with the registry password first")
    return replace(access, ca_file=options.ca_file, skip_verify=options.skip_verify,
                   username=options.username, password=password)


def _mirrors(access: RegistryAccess, options: argparse.Namespace, with_fallback: bool) -> list[Mirror]:
    """One mirror per --mirror name to the registry (then the fallback), and the registry's own entry."""
    rewrites = tuple(_rewrite(text) for text in options.rewrite)
    fallback = (parse_registry(options.fallback).url,) if with_fallback and options.fallback else ()
    names = list(dict.fromkeys(options.mirror or [DEFAULT_MIRRORED_REGISTRY]))
    mirrors = [Mirror(name, (access.url, *fallback), rewrites) for name in names if name != access.host]
    return [*mirrors, Mirror(access.host, (access.url,))]


def _rewrite(text: str) -> tuple[str, str]:
    pattern, sep, replacement = text.partition("=")
    if not sep or not pattern:
        raise RvconformError(f"--rewrite {text!r} is not PATTERN=REPLACEMENT",
                             fix='e.g. --rewrite "^riscv64/(.*)=riscv64/$1"')
    return pattern, replacement


def _print_k3s(access: RegistryAccess, options: argparse.Namespace) -> None:
    print(f"# {REGISTRIES_YAML}: install it there, then restart k3s (systemctl restart k3s, or k3s-agent on agents)")
    print(k3s_registries_yaml(_mirrors(access, options, with_fallback=True), {access.host: access}), end="")


def _print_containerd(access: RegistryAccess, options: argparse.Namespace) -> None:
    print(f"# Install each file at the path above it. containerd reads them on every pull once its CRI registry "
          f"config_path is {CERTS_D} (restart containerd after setting it); ctr needs --hosts-dir {CERTS_D}.")
    fallback = parse_registry(options.fallback).url if options.fallback else None
    authorization = None
    if options.auth_header:
        if not access.has_auth:
            raise RvconformError("--auth-header needs credentials", fix="add --username USER --password-env VARIABLE")
        basic = base64.b64encode(f"{access.username}:{access.password}".encode()).decode()
        authorization = {access.host: f"Basic {basic}"}
    for mirror in _mirrors(access, options, with_fallback=False):
        server = fallback if mirror.registry != access.host else None
        print(f"\n# {hosts_dir_path(mirror.registry)}/hosts.toml")
        print(containerd_hosts_toml(mirror, {access.host: access}, server, authorization), end="")


def _print_docker(access: RegistryAccess, options: argparse.Namespace) -> None:
    if options.mirror or options.fallback or options.rewrite:
        raise RvconformError("--mirror, --fallback and --rewrite are for k3s and containerd",
                             fix=f"pull {access.host}/NAME directly with docker, or configure k3s or containerd")
    print(docker_daemon_json([access], _existing_daemon_json(options.merge)), end="")
    if access.insecure or access.skip_verify:
        notes = [f"# {DAEMON_JSON}: install it there, then restart dockerd (systemctl restart docker)"]
    else:
        notes = [f"# {DAEMON_JSON} needs no entry for {access.host}: dockerd verifies its https certificate"]
    notes += [f"# copy {access.ca_file} to {path} on the board" for path in docker_cert_paths(access)]
    if access.has_auth:
        notes.append(f"# credentials are not part of daemon.json: run docker login {access.host} on the board")
    # On stderr: JSON has no comments, and stdout is meant to be redirected into daemon.json.
    print("\n".join(notes), file=sys.stderr)


def _existing_daemon_json(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        existing = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RvconformError(f"cannot read {path} as JSON: {error}", fix="pass a daemon.json that dockerd accepts"
                             ) from None
    if not isinstance(existing, dict):
        raise RvconformError(f"{path} is not a JSON object", fix="daemon.json must be an object: {...}")
    return existing
