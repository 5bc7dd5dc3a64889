"""happo-top's engine: plain Python, blocking calls, no UI library.

Front ends import the subpackages' public APIs: ``collectors.model`` (values),
``collectors.config`` (the YAML file), ``collectors.monitor`` (one Snapshot per poll),
``collectors.control`` (acting on runs), ``collectors.analysis`` (pure functions of values).
Nothing is imported here, so that a headless command pays only for what it uses. The layering is
described in README's "How the code is organised" and checked by tests/test_architecture.py.
"""
