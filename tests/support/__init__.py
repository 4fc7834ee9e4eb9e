"""What tests and benchmarks share: real processes (redis-server, `nocontact serve`), data
generators, reference implementations and hypothesis strategies. A test module never imports
another test module or a conftest: whatever two of them need lives here."""
