"""Test doubles of the authors' IPN, MANet and ATNet repositories.

These are NOT the authors' models. Each folder mimics one repository's layout and the call
signatures the adapters in ``vos_recommender/backends/authors/`` use (module names, constructors,
method names and arguments, return shapes), with tiny networks whose outputs follow the scribbles.
They let the tests exercise the adapters' real code paths (import from ``code_dir``, weight loading,
the per-round calls) without the authors' code, weights or a GPU. Every call is recorded in the
module-level ``CALLS`` lists so the tests can check each model's interaction contract.
"""
