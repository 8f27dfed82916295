"""The test suite. A package, so its shared helpers import plainly as
``tests.<module>`` from every test file (pyproject puts the checkout on the path)."""
