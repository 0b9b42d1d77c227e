# flyte's bootstrap for a task of a Python file: flyte run FILE.py TASK runs
#   python3 -c SOURCE FILE TASK ARGS CHECKS
# in the task's process, after flyte read the declarations (discover.py) and placed the secrets. ARGS is a
# JSON object of the task's keyword arguments, typed by flyte from the task's annotations; CHECKS a JSON list
# of where each secret was delivered ({"key": K, "env": VAR} or {"key": K, "file": PATH}), to warn when the
# return value holds one. Without an importable flyte SDK, a minimal stand-in module (TaskEnvironment,
# Secret, the task decorator) is made here, in this process's memory only: nothing is installed or written.
# The module is imported as the SDK's CLI imports it (by its file name, its directory first on sys.path:
# an `if __name__ == "__main__"` block does not run), the task's function is called, awaited when it is a
# coroutine, and its return value printed on standard output (which flyte masks). Nothing here prints a
# secret's value or a value of the task's own.
import asyncio
import importlib.util
import inspect
import json
import os
import sys
import traceback
import types

STANDIN_MSG = ("flyte's stand-in for the Flyte SDK (flyte-sdk is not installed) has no %s: "
               "install flyte-sdk to use it, or run the task with the Flyte CLI")


def standin():
    """A minimal flyte module: what a task file needs to declare and run its tasks locally."""
    m = types.ModuleType("flyte")
    m.__doc__ = "flyte's stand-in for the Flyte SDK, for flyte run FILE.py TASK (not installed anywhere)"
    m.__flyte_standin__ = True

    class Secret:
        def __init__(self, key, group=None, mount=None, as_env_var=None):
            self.key, self.group, self.mount, self.as_env_var = key, group, mount, as_env_var

        def __repr__(self):
            return "Secret(key=%r)" % (self.key,)

    class Task:
        """What @env.task makes of a function: called, it calls the function (in this process)."""

        def __init__(self, env, func):
            self.env, self.func, self.name = env, func, func.__name__
            self.__doc__, self.__wrapped__ = func.__doc__, func

        def __call__(self, *args, **kwargs):
            return self.func(*args, **kwargs)

        async def aio(self, *args, **kwargs):
            r = self.func(*args, **kwargs)
            if inspect.isawaitable(r):
                r = await r
            return r

        def override(self, **kwargs):
            return self

    class TaskEnvironment:
        def __init__(self, name, depends_on=None, pod_template=None, description=None, secrets=None, **kwargs):
            self.name, self.secrets, self.depends_on = name, secrets, depends_on or []
            self.description, self.kwargs = description, kwargs

        def task(self, _func=None, **kwargs):
            if _func is None:
                return lambda f: Task(self, f)
            return Task(self, _func)

        def clone_with(self, name, **kwargs):
            kw = dict(self.kwargs)
            kw.update(kwargs)
            kw.setdefault("secrets", self.secrets)
            return TaskEnvironment(name, **kw)

        def __repr__(self):
            return "TaskEnvironment(name=%r)" % (self.name,)

    m.Secret, m.TaskEnvironment = Secret, TaskEnvironment
    m.TaskTemplate = Task

    def missing(name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(STANDIN_MSG % ("flyte." + name))

    m.__getattr__ = missing
    return m


def load(path):
    """The task file as a module named after it, its directory first on sys.path (as python3 FILE.py
    puts it; python3 -c put the working directory there)."""
    d = os.path.dirname(path)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path[0] = d
    else:
        sys.path.insert(0, d)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def holds(result, checks):
    """The keys of the secrets whose value the return value shows (its str or repr)."""
    try:
        texts = [str(result), repr(result)]
    except Exception:
        return []
    out = []
    for c in checks:
        v = None
        if "env" in c:
            v = os.environ.get(c["env"])
        elif "file" in c:
            try:
                with open(c["file"], "r", errors="replace") as f:
                    v = f.read(1 << 20)
            except OSError:
                v = None
        if not v:
            continue
        forms = {v, v.strip()}
        if any(len(x) >= 4 and x in t for x in forms for t in texts):
            out.append(c["key"])
    return out


def main(argv):
    path, task, args, checks = argv[1], argv[2], json.loads(argv[3]), json.loads(argv[4])
    if importlib.util.find_spec("flyte") is None:
        sys.modules["flyte"] = standin()
    mod = load(path)
    obj = getattr(mod, task)
    # The SDK's task keeps its function as .func; the stand-in's does too.
    fn = getattr(obj, "func", obj)
    result = fn(**args)
    if inspect.isawaitable(result):
        async def wait(r):
            return await r

        result = asyncio.run(wait(result))
    if result is None:
        return 0
    keys = holds(result, checks)
    sys.stdout.write(str(result) + "\n")
    sys.stdout.flush()
    if keys:
        sys.stderr.write("flyte: warning: the return value of task %s holds the value of secret %s: never return "
                         "secret values from tasks: run by Flyte, a task's return value reaches the control "
                         "plane\n" % (task, ", ".join(keys)))
    return 0


if __name__ == "__main__":
    try:
        code = main(sys.argv)
    except (SystemExit, KeyboardInterrupt):
        raise  # as Python ends on them: its status, or killed by SIGINT
    except BaseException:
        # The task's traceback, without this bootstrap's own frames.
        t, e, tb = sys.exc_info()
        while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
            tb = tb.tb_next
        traceback.print_exception(t, e, tb)
        code = 1
    sys.stdout.flush()
    sys.exit(code)
