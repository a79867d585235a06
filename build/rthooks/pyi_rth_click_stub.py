# The binary leaves click out (208 kB compressed): typer vendors its own (typer._click), and
# the only importer left is uvicorn/__init__ -> uvicorn.main, whose module level decorates
# uvicorn's own command line with click. loomex serve never runs that command line (it builds
# uvicorn.Config and Server itself), so a stub that accepts the decorators is enough. It is a
# finder at the end of sys.meta_path: a real click, if one were ever bundled, still wins.
import sys


class _ClickStub:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "click":
            return None
        from importlib.machinery import ModuleSpec
        return ModuleSpec(name, cls)

    @staticmethod
    def create_module(spec):
        return None

    @staticmethod
    def exec_module(module):
        def decorator(*args, **kwargs):
            return lambda f: f

        class ParamType:
            def __init__(self, *args, **kwargs):
                pass

        def echo(message=None, **kwargs):
            print(message)

        module.command = module.argument = module.option = module.version_option = decorator
        module.Choice = module.Path = module.IntRange = module.FloatRange = ParamType
        module.Context = module.Parameter = object
        module.echo = echo


sys.meta_path.append(_ClickStub)
