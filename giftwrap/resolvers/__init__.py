"""Built-in resolvers (``giftwrap.resolvers`` drivers); they import only giftwrap.api."""
