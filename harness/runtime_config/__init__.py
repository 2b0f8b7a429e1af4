"""Registry configuration for the runtimes on a board: docker's daemon.json, containerd's hosts.toml and
k3s's registries.yaml, made from one registry address, and ``rvconform config`` printing them."""

from harness.runtime_config.access import Mirror, RegistryAccess, parse_registry
from harness.runtime_config.command import main
from harness.runtime_config.containerd import containerd_hosts_toml, hosts_dir_path, k3s_to_containerd
from harness.runtime_config.docker import docker_cert_paths, docker_daemon_json
from harness.runtime_config.k3s import k3s_registries_yaml, parse_k3s_registries
from harness.runtime_config.reference_workflow import (
    REFERENCE_REGISTRIES_YAML,
    reference_k3s_config,
    without_public_fallbacks,
)

__all__ = [
    "REFERENCE_REGISTRIES_YAML",
    "Mirror",
    "RegistryAccess",
    "containerd_hosts_toml",
    "docker_cert_paths",
    "docker_daemon_json",
    "hosts_dir_path",
    "k3s_registries_yaml",
    "k3s_to_containerd",
    "main",
    "parse_k3s_registries",
    "parse_registry",
    "reference_k3s_config",
    "without_public_fallbacks",
]
