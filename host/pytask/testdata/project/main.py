# A project whose environments live in a module of its own.
import pathlib

import flyte
from flyte import Secret as S
from envs import shared, KEYS
import envs as e2

env_a = flyte.TaskEnvironment("env_a", secrets=KEYS)
env_b = shared.clone_with(name="env_b")
env_c = e2.shared.clone_with("env_c", secrets="solo")
env_d = flyte.TaskEnvironment(
    name="env_d",
    secrets=[S("k", group="g"), "x", S(key="m", mount=pathlib.Path("/etc/flyte/secrets"), as_env_var="M")],
)


@env_a.task
async def ta(n: int, name: str = "x", *, flag: bool = False, ratio: float = 0.5) -> str:
    return tb()


@env_b.task(cache="auto")
def tb():
    pass


@env_c.task
def tc(*args):
    pass


@env_d.task
def td():
    pass


def helper():
    pass
