import flyte

KEYS = ["a-b", flyte.Secret(key="c", as_env_var="C")]
shared = flyte.TaskEnvironment(name="shared", secrets=KEYS)
