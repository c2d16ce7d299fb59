"""The composition root: the `happening` command and the assembly of its processes, the one package
that knows every part (the engine never imports the HTTP layer; the HTTP layer gets an engine client)."""
