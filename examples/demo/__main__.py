"""`python -m examples.demo`: runs the demo from the command line (see `examples.demo`)."""

from examples.demo.cli import cli

if __name__ == '__main__':
    cli()
