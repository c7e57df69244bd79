"""`gin.configurable` that works with Keras 3 layers and their errors.

Two problems with plain `gin.configurable` under Keras 3, fixed here:
- On a class it wraps `__init__` in a `(*args, **kwargs)` function, but Keras
  reads the argument names of `__init__` when a layer is created (to record
  its config), so construction fails. The original signature is restored.
- On a function it re-raises errors as a proxy class whose `args` are empty
  and whose constructor takes no message. Keras rebuilds errors raised in a
  layer's `call` from `type(e)(args[0])`, so the message, and the error type,
  were lost. The error is re-raised as its original type with gin's message.
"""

import functools
import inspect

import gin


def configurable(fn_or_cls=None, **gin_kwargs):
    """`gin.configurable` for Keras layer classes and for functions.

    Usable bare or with gin's arguments. Example:
        >>> @configurable
        ... def oscillator_bank(frequency_envelopes, ...): ...
    """
    name = None
    if isinstance(fn_or_cls, str):  # The name, as in gin.configurable(name).
        name, fn_or_cls = fn_or_cls, None

    def decorate(target):
        if inspect.isclass(target):
            signature = inspect.signature(target.__init__)
            configured = gin.configurable(name, **gin_kwargs)(target)
            configured.__init__.__signature__ = signature
            return configured
        configured = gin.configurable(name, **gin_kwargs)(target)

        @functools.wraps(target)
        def call_with_readable_errors(*args, **kwargs):
            try:
                return configured(*args, **kwargs)
            except Exception as e:  # Any error: gin wraps them all.
                raise _unproxied(e) from None

        return call_with_readable_errors

    return decorate(fn_or_cls) if fn_or_cls is not None else decorate


def _unproxied(error):
    """The original error type carrying gin's augmented message."""
    if 'ExceptionProxy' not in type(error).__init__.__qualname__:
        return error
    original_type = type(error).__mro__[1]
    try:
        clean = original_type(str(error))
    except Exception:  # A constructor that takes no message.
        error.args = (str(error),)  # Keep the proxy, but readable.
        return error
    return clean.with_traceback(error.__traceback__)
