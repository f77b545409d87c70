"""Finding and removing a stack's containers: every container and network of a stack
carries `STACK_LABEL` (its stack id), so `leftovers` lists what remains of a stack and
`remove_stack` force-removes it, even one whose `Stack` object is gone (`--keep-stack`,
an interrupted start-up). `remove_container` removes a single container of a stack.
"""

from __future__ import annotations

import docker
import docker.errors

from containers.definitions import CappedContainer

__all__ = ["STACK_LABEL", "leftovers", "remove_container", "remove_stack"]

STACK_LABEL = "org.tastematch.stack"


def leftovers(stack_id: str, client: docker.DockerClient | None = None) -> list[str]:
    """Names of the containers and networks of stack `stack_id` that still exist."""
    own_client = client is None
    client = client or docker.from_env()
    try:
        label = {"label": f"{STACK_LABEL}={stack_id}"}
        # The low-level listing: no inspect per container that could race a removal.
        listed = client.api.containers(all=True, filters=label)
        networks = client.api.networks(filters=label)
        return [str(c["Names"][0]).lstrip("/") for c in listed] + [str(n["Name"]) for n in networks]
    finally:
        if own_client:
            client.close()


def remove_stack(stack_id: str) -> list[str]:
    """Force-remove the containers and networks of stack `stack_id` (e.g. one that
    `--keep-stack` left running); returns what could not be removed."""
    try:
        client = docker.from_env()
    except docker.errors.DockerException as error:
        return [f"stack {stack_id}: {error}"]
    problems = []
    label = {"label": f"{STACK_LABEL}={stack_id}"}
    try:
        for container in client.api.containers(all=True, filters=label):
            try:
                client.api.remove_container(container["Id"], force=True, v=True)
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as error:
                if error.status_code != 409:  # 409: its removal is already in progress
                    problems.append(f"{container['Names'][0]}: {error}")
        for network in client.api.networks(filters=label):
            try:
                client.api.remove_network(network["Id"])
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as error:
                problems.append(f"network {network['Name']}: {error}")
    finally:
        client.close()
    return problems


def remove_container(container: CappedContainer) -> str | None:
    """Remove a container; the reason when that failed (None when removed or already gone)."""
    try:
        container.stop()
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as error:
        if error.status_code == 409:  # its removal is already in progress
            return None
        return f"{container.name}: {error}"
    return None
