import os

import flyte

names = os.environ.get("KEYS", "a,b").split(",")
env_1 = flyte.TaskEnvironment(name="env_1", secrets=[flyte.Secret(key=k) for k in names])


@env_1.task
def t1():
    pass


env_2 = flyte.TaskEnvironment(name=os.environ["ENV_NAME"])


@env_2.task
def t2():
    pass


def make():
    return flyte.TaskEnvironment(name="env_3")


@make().task
def t3():
    pass


from somewhere_else import env_4


@env_4.task
def t4():
    pass
