"""Sphinx extension: bibliography labels in the author-year form of the citations.

The book cites author-year ("Jiao et al. (2025)", `bibtex_reference_style: author_year`), but
pybtex's styles label the reference list alphabetically ("[JZL25]"), so a reader could not match
a citation with its entry. This registers the pybtex formatting style `authoryear`: the `plain`
style with labels "Jiao et al., 2025": one or two authors by name ("Kipf and Welling, 2017"),
"et al." from three. `book/references.md` asks for it with `:style: authoryear`.
"""
from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person) -> str:
    return " ".join(person.last_names).replace("{", "").replace("}", "")


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [_surname(person) for person in people]
            if len(names) > 2:
                who = f"{names[0]} et al."
            elif names:
                who = " and ".join(names)
            else:
                who = entry.key
            yield f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearStyle(PlainStyle):
    default_label_style = "authoryear"


def setup(app):
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
