"""The public address of the functions of `ddsp.core`: the package, not the module.

`dags.serialize_function` saves a function as `<__module__>.<name>`, and gin's wrappers copy
`__module__` when a function is registered. Setting it to `ddsp.core` keeps the names that
configs saved before the package split (`'ddsp.core.exp_sigmoid'`) and keeps future ones
stable when a function moves between the modules of the package.
"""

PACKAGE = 'ddsp.core'


def publish(obj):
    """Gives a function or class the module `ddsp.core`; usable as a decorator.

    Apply it below `gin.register` / `gin_keras.configurable`, so that gin's wrapper copies it.
    """
    obj.__module__ = PACKAGE
    return obj
