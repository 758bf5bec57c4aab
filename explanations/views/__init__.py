"""The community's pages and actions, one module per kind of thing: explanations, comments, lists (with watches
and bookmarks), recent changes and search. Thin views: they read forms, call a service or a selector, and answer
with a page, an htmx fragment, or a redirect back to where the reader was."""
