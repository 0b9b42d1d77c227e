# flyte's reader of Flyte task files: it finds a task, its TaskEnvironment and the environment's secrets
# in a Python file WITHOUT running any of it (Python's own parser, the ast module), following the imports
# of the project's own modules (from envs import env_1). It prints one JSON object on standard output:
# the declarations as written (flyte applies the SDK's rules to them), or an error naming a file and a
# line. It is run as `python3 -I -S -B -c SOURCE FILE TASK`: isolated (no PYTHON* variables, no user site,
# no site), and writing no .pyc. Its messages never quote the file's text: only file names, line numbers
# and names that are Python identifiers.
import ast
import json
import os
import sys

MAX_FILES = 64  # project modules read for one task
MAX_BYTES = 1 << 20  # size of one module
MAX_TOTAL = 4 << 20  # size of all the modules read
MAX_SECRETS = 1000  # secrets of one environment
MAX_MEMORY = 1 << 30  # address space of this reader
MAX_CPU = 20  # seconds of CPU of this reader
FLYTE = "flyte"
SECRET_MOUNT_ARGS = ("key", "group", "mount", "as_env_var")
# TaskEnvironment's dataclass fields, in order, up to secrets (flyte-sdk: Environment).
ENV_POSITIONAL = ("name", "depends_on", "pod_template", "description", "secrets")


class Refusal(Exception):
    def __init__(self, msg, path, line, hint=""):
        super().__init__(msg)
        self.msg, self.path, self.line, self.hint = msg, path, line, hint


class Dynamic(Exception):
    """An expression flyte cannot read without running it."""

    def __init__(self, node, mod=None):
        super().__init__("dynamic")
        self.node, self.mod = node, mod


class Env:
    def __init__(self, name, secrets, path, line):
        self.name, self.secrets, self.path, self.line = name, secrets, path, line


class Func:
    def __init__(self, node, module):
        self.node, self.module = node, module


class Module:
    def __init__(self, reader, path):
        self.reader, self.path = reader, path
        self.dir = os.path.dirname(path)
        self.symbols = {}  # name -> (kind, payload)
        self.tree = None

    def load(self):
        try:
            with open(self.path, "rb") as f:
                src = f.read(MAX_BYTES + 1)
        except OSError as e:
            raise Refusal("cannot read the file: " + (e.strerror or "error"), self.path, 0)
        if len(src) > MAX_BYTES:
            raise Refusal("the file is larger than 1 MiB", self.path, 0)
        self.reader.total += len(src)
        if self.reader.total > MAX_TOTAL:
            raise Refusal("the task's modules are larger than 4 MiB in all", self.path, 0)
        try:
            self.tree = ast.parse(src, filename=self.path)
        except SyntaxError as e:
            raise Refusal("Python syntax error", self.path, e.lineno or 0)
        except ValueError:
            raise Refusal("the file is not Python source (a NUL byte)", self.path, 0)
        for stmt in self.tree.body:
            self.bind(stmt)

    def bind(self, stmt):
        s = self.symbols
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    s[a.asname] = ("module", (a.name, 0, stmt.lineno))
                else:
                    top = a.name.split(".")[0]
                    s[top] = ("module", (top, 0, stmt.lineno))
        elif isinstance(stmt, ast.ImportFrom):
            for a in stmt.names:
                if a.name == "*":
                    continue
                s[a.asname or a.name] = ("from", (stmt.module or "", stmt.level, a.name, stmt.lineno))
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            s[stmt.name] = ("func", Func(stmt, self)) if not isinstance(stmt, ast.ClassDef) else ("other", stmt)
        elif isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                if isinstance(t, ast.Name):
                    s[t.id] = ("expr", stmt.value)
                else:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            s[n.id] = ("other", stmt)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            s[stmt.target.id] = ("expr", stmt.value)
        elif isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            # Names bound under a condition or a loop are not known without running the file.
            for n in ast.walk(stmt):
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    s[n.name] = ("other", n)
                elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    s[n.id] = ("other", n)
                elif isinstance(n, (ast.Import, ast.ImportFrom)):
                    for a in n.names:
                        s[(a.asname or a.name).split(".")[0]] = ("other", n)

    def lookup(self, name, depth=0):
        """What name is bound to at the module's top level: ('flyte', attr), ('module', Module),
        ('extmodule', dotted), ('env', Env), ('func', Func), ('value', node, module), or None."""
        if depth > 32:
            return None
        b = self.symbols.get(name)
        if b is None:
            return None
        kind, p = b
        if kind == "module":
            dotted, level, _ = p
            return self.import_module(dotted, level, p[2])
        if kind == "from":
            dotted, level, attr, line = p
            if level == 0 and dotted == FLYTE:
                return ("flyte", attr)
            if level == 0 and dotted.startswith(FLYTE + "."):
                return ("flyte", attr)
            sub = self.import_module(dotted + "." + attr if dotted else attr, level, line, quiet=True)
            if sub is not None and sub[0] == "module":
                return sub
            m = self.import_module(dotted, level, line)
            if m[0] != "module":
                return ("extname", (dotted, attr, line))
            return m[1].lookup(attr, depth + 1)
        if kind == "func":
            return ("func", p)
        if kind == "expr":
            return ("value", p, self)
        return ("other", p)

    def import_module(self, dotted, level, line, quiet=False):
        if level == 0 and (dotted == FLYTE or dotted.startswith(FLYTE + ".")):
            return ("flyte", None)
        base = self.dir
        for _ in range(max(0, level - 1)):
            base = os.path.dirname(base)
        parts = [p for p in dotted.split(".") if p]
        cand = os.path.join(base, *parts) if parts else base
        for path in (cand + ".py", os.path.join(cand, "__init__.py")):
            if parts and os.path.isfile(path):
                if not self.reader.inside(path):
                    raise Refusal("an import reaches a module outside the project (" + self.reader.root + ")",
                                  self.path, line, "flyte reads the modules of the task's project only: the "
                                  "directory with its pyproject.toml, setup.py, setup.cfg or .git, else the "
                                  "task file's directory")
                return ("module", self.reader.module(path))
        if quiet:
            return None
        return ("extmodule", (dotted, line))


class Reader:
    def __init__(self, root):
        self.modules = {}
        self.root = root
        self.total = 0

    def inside(self, path):
        real = os.path.realpath(path)
        return os.path.commonpath([self.root, real]) == self.root

    def module(self, path):
        path = os.path.realpath(path)
        m = self.modules.get(path)
        if m is None:
            if len(self.modules) >= MAX_FILES:
                raise Refusal("the task's modules import more than %d files of the project" % MAX_FILES, path, 0)
            m = Module(self, path)
            self.modules[path] = m
            m.load()
        return m


def resolve(node, mod, depth=0):
    """What an expression names: ('flyte', attr), ('env', Env), ('func', Func), ('module', Module),
    ('value', node, module) for a literal expression, or raises Dynamic."""
    if depth > 32:
        raise Dynamic(node, mod)
    if isinstance(node, ast.Name):
        b = mod.lookup(node.id)
        if b is None:
            raise Dynamic(node, mod)
        if b[0] == "value":
            return resolve_value(b[1], b[2], depth + 1)
        return b
    if isinstance(node, ast.Attribute):
        base = resolve(node.value, mod, depth + 1)
        if base[0] == "flyte":
            return ("flyte", node.attr)
        if base[0] == "module":
            b = base[1].lookup(node.attr)
            if b is None:
                raise Dynamic(node, mod)
            if b[0] == "value":
                return resolve_value(b[1], b[2], depth + 1)
            return b
        raise Dynamic(node, mod)
    if isinstance(node, ast.Call):
        return resolve_value(node, mod, depth + 1)
    raise Dynamic(node, mod)


def resolve_value(node, mod, depth):
    if isinstance(node, (ast.Name, ast.Attribute)):
        return resolve(node, mod, depth + 1)
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "clone_with":
            parent = resolve(f.value, mod, depth + 1)
            if parent[0] != "env":
                raise Dynamic(node, mod)
            args = call_args(node, ("name",))
            name = const_str(args.get("name"), mod) if "name" in args else None
            if name is None:
                raise Dynamic(node, mod)
            secrets = parent[1].secrets
            if "secrets" in args and not is_none(args["secrets"]):
                secrets = env_secrets(name, args["secrets"], mod, depth)
            return ("env", Env(name, secrets, mod.path, node.lineno))
        callee = resolve(f, mod, depth + 1)
        if callee[0] == "flyte" and callee[1] == "TaskEnvironment":
            args = call_args(node, ENV_POSITIONAL)
            name = const_str(args.get("name"), mod)
            if name is None:
                raise Refusal("the name of this TaskEnvironment is computed when the file runs", mod.path,
                              node.lineno, DECLARE_HINT)
            secrets = []
            if "secrets" in args and not is_none(args["secrets"]):
                secrets = env_secrets(name, args["secrets"], mod, depth)
            return ("env", Env(name, secrets, mod.path, node.lineno))
        if callee[0] == "flyte" and callee[1] == "Secret":
            return ("value", node, mod)
    if isinstance(node, (ast.Constant, ast.List, ast.Tuple)):
        return ("value", node, mod)
    raise Dynamic(node, mod)


DECLARE_HINT = ("flyte reads declarations without running your code: write the TaskEnvironment's name and "
                "secrets as literals (or names bound to literals), or declare the environment in flyte.toml")


def env_secrets(name, node, mod, depth):
    """The secrets the environment name declares, or a refusal at the expression that is computed."""
    try:
        return read_secrets(node, mod, depth)
    except Dynamic as e:
        at = e.mod or mod
        raise Refusal("the secrets of environment " + ident(name) + " are computed when the file runs", at.path,
                      getattr(e.node, "lineno", node.lineno), DECLARE_HINT)


def ident(name):
    """name when it is a plain name (snake or kebab case), else a neutral word: never the file's text."""
    ok = name and len(name) <= 64 and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
    return name if ok else "(its name)"


def call_args(call, positional):
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        raise Dynamic(call)
    args = {}
    for i, a in enumerate(call.args):
        if i >= len(positional):
            break
        args[positional[i]] = a
    for k in call.keywords:
        args[k.arg] = k.value
    return args


def is_none(node):
    return isinstance(node, ast.Constant) and node.value is None


def const_str(node, mod, depth=0):
    """The str a node is (a literal, or a name bound to one), or None."""
    if node is None or depth > 32:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        b = mod.lookup(node.id)
        if b and b[0] == "value":
            return const_str(b[1], b[2], depth + 1)
    return None


def opt_str(node, mod, what):
    """A Secret argument: None, a str, or (mount) pathlib.Path("...")."""
    if node is None or is_none(node):
        return None
    s = const_str(node, mod)
    if s is not None:
        return s
    if what == "mount" and isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords:
        f = node.func
        fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if fname in ("Path", "PurePath", "PosixPath"):
            s = const_str(node.args[0], mod)
            if s is not None:
                return os.path.normpath(s) if s else s
    raise Dynamic(node, mod)


def read_secrets(node, mod, depth, top=True):
    """The secrets a request declares (the SDK's SecretRequest: a str, a Secret, or a flat list of both)."""
    if depth > 32:
        raise Dynamic(node, mod)
    if isinstance(node, (ast.Name, ast.Attribute)):
        b = bound_value(node, mod, depth)
        return read_secrets(b[1], b[2], depth + 1, top)
    if isinstance(node, (ast.List, ast.Tuple)):
        if not top:
            raise Dynamic(node, mod)  # the SDK takes a flat list: an item is a str or a Secret
        if len(node.elts) > MAX_SECRETS:
            raise Refusal("an environment declares more than %d secrets" % MAX_SECRETS, mod.path, node.lineno)
        out = []
        for e in node.elts:
            if isinstance(e, ast.Starred):
                raise Dynamic(e, mod)
            out.extend(read_secrets(e, mod, depth + 1, False))
        return out
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [{"key": node.value, "path": mod.path, "line": node.lineno, "form": "string"}]
    if isinstance(node, ast.Call):
        callee = resolve(node.func, mod, depth + 1)
        if callee[0] == "flyte" and callee[1] == "Secret":
            args = call_args(node, SECRET_MOUNT_ARGS)
            for k in args:
                if k not in SECRET_MOUNT_ARGS:
                    raise Refusal("flyte.Secret has no argument named " + ident(k), mod.path, node.lineno)
            if "key" not in args:
                raise Refusal("flyte.Secret needs a key", mod.path, node.lineno)
            key = const_str(args["key"], mod)
            if key is None:
                raise Dynamic(args["key"], mod)
            d = {"key": key, "path": mod.path, "line": node.lineno, "form": "secret"}
            for k in ("group", "mount", "as_env_var"):
                v = opt_str(args.get(k), mod, k)
                if v is not None:
                    d[k] = v
            return [d]
    raise Dynamic(node, mod)


def bound_value(node, mod, depth):
    """The literal expression a name (or module.name) is bound to: ('value', node, module)."""
    if isinstance(node, ast.Name):
        b = mod.lookup(node.id)
    else:
        base = resolve(node.value, mod, depth + 1)
        if base[0] != "module":
            raise Dynamic(node, mod)
        b = base[1].lookup(node.attr)
    if b is None or b[0] != "value":
        raise Dynamic(node, mod)
    return b


def task_env(fn):
    """The environment of the task function fn (its @ENV.task decorator), or None."""
    for dec in fn.node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(target, ast.Attribute) and target.attr == "task":
            try:
                env = resolve(target.value, fn.module)
            except Dynamic as e:
                at = e.mod or fn.module
                raise Refusal("the environment of this task is computed when the file runs", at.path,
                              getattr(e.node, "lineno", dec.lineno), DECLARE_HINT)
            if env[0] == "env":
                return env[1]
            if env[0] in ("extmodule", "extname"):
                raise Refusal("the environment of this task comes from a module that is not a file of this project",
                              fn.module.path, dec.lineno,
                              "flyte reads the project's own modules only (next to the task's file): "
                              "declare the environment there, or in flyte.toml")
    return None


def param(a, default):
    p = {"name": a.arg}
    if a.annotation is not None:
        p["annotation"] = ast.unparse(a.annotation)
    if default is not None:
        p["has_default"] = True
        try:
            v = ast.literal_eval(default)
            if isinstance(v, (str, int, float, bool)) or v is None:
                p["default"] = v
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
    return p


def params(fn):
    a = fn.node.args
    out = []
    pos = a.posonlyargs + a.args
    defaults = [None] * (len(pos) - len(a.defaults)) + list(a.defaults)
    for arg, d in zip(pos, defaults):
        out.append(param(arg, d))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append(param(arg, d))
    return out, a.vararg is not None or a.kwarg is not None


def calls(fn, env):
    """The tasks of other environments the task calls by name: they run in the same process, with the
    entry task's secrets only."""
    out = []
    for n in ast.walk(fn.node):
        if not isinstance(n, ast.Call):
            continue
        try:
            b = resolve(n.func, fn.module)
        except Dynamic:
            continue
        if b[0] != "func" or b[1].node is fn.node:
            continue
        try:
            other = task_env(b[1])
        except Refusal:
            continue
        if other is not None and other.name != env.name:
            out.append({"task": b[1].node.name, "env": other.name, "line": n.lineno})
    return out


def project_root(path):
    """The task's project: the nearest directory above its file with a pyproject.toml, setup.py,
    setup.cfg or .git, else the file's directory."""
    d = os.path.dirname(path)
    while True:
        for marker in ("pyproject.toml", "setup.py", "setup.cfg", ".git"):
            if os.path.exists(os.path.join(d, marker)):
                return d
        up = os.path.dirname(d)
        if up == d:
            return os.path.dirname(path)
        d = up


def main(path, task):
    path = os.path.realpath(path)
    reader = Reader(project_root(path))
    mod = reader.module(path)
    b = mod.lookup(task)
    if b is None or b[0] != "func":
        tasks = []
        for name in sorted(mod.symbols):
            fb = mod.lookup(name)
            if fb and fb[0] == "func":
                try:
                    if task_env(fb[1]) is not None:
                        tasks.append(name)
                except Refusal:
                    pass
        hint = "its tasks: " + ", ".join(tasks) if tasks else "it declares no task (a function decorated with @ENV.task)"
        raise Refusal("no task named " + task, mod.path, 0, hint)
    fn = b[1]
    env = task_env(fn)
    if env is None:
        raise Refusal("the function " + task + " is not a task: it has no @ENV.task decorator", fn.module.path,
                      fn.node.lineno, "a task is a function decorated with @ENV.task, where ENV is a "
                                      "flyte.TaskEnvironment")
    ps, variadic = params(fn)
    return {
        "task": {"name": task, "path": fn.module.path, "line": fn.node.lineno,
                 "async": isinstance(fn.node, ast.AsyncFunctionDef), "params": ps, "variadic": variadic},
        "env": {"name": env.name, "path": env.path, "line": env.line},
        "secrets": env.secrets,
        "calls": calls(fn, env),
        "files": sorted(reader.modules),
    }


def run(argv):
    if len(argv) != 3:
        return {"error": {"msg": "usage: discover FILE TASK", "path": "", "line": 0}}
    path, task = os.path.abspath(argv[1]), argv[2]
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MAX_MEMORY, MAX_MEMORY))
        resource.setrlimit(resource.RLIMIT_CPU, (MAX_CPU, MAX_CPU))
    except (ImportError, ValueError, OSError):
        pass
    try:
        return main(path, task)
    except Refusal as e:
        return {"error": {"msg": e.msg, "path": e.path, "line": e.line, "hint": e.hint}}
    except Dynamic as e:
        # Raised outside a declaration flyte looks into: the environment as a whole.
        return {"error": {"msg": "the task's environment is computed when the file runs",
                          "path": e.mod.path if e.mod else path, "line": getattr(e.node, "lineno", 0),
                          "hint": DECLARE_HINT}}
    except RecursionError:
        return {"error": {"msg": "the declarations nest too deeply to read", "path": path, "line": 0}}
    except MemoryError:
        return {"error": {"msg": "the declarations are too large to read", "path": path, "line": 0}}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(run(sys.argv)))
