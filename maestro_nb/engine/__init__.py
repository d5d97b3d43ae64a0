"""The engine: scheduler, step runtime, foreach, breakpoints and the journal to the store."""
