"""Show the *paper's* numbers on sphinx-proof blocks ("Lemma 3.1", not the book's "Lemma 2.4").

Convention (see README, "Writing a chapter"): a result of the paper is written

    ```{prf:lemma} 3.1 Iterates enter, or stay in, the ball
    :label: lem-3-1
    :nonumber:
    ```

and renders as "Lemma 3.1 (Iterates enter, or stay in, the ball)"; ``{prf:ref}`lem-3-1``` renders
as "Lemma 3.1". Appendix numbers work the same way ("A.1", "B.3").

One numbering scheme, so that a reader never meets two different "Lemma 4.1"s: only the paper's
results carry numbers, and they carry the paper's. The book's own results (definitions, remarks,
corollaries the paper does not state) are *named*, not numbered: every block is made
unnumbered (``:nonumber:`` is implied), it renders as "Remark (Bias correction)", and a reference
to it reads the same. sphinx-proof itself only offers per-chapter counters, which would give the
book's blocks numbers that collide with the paper's.

Equations follow the same rule: a labelled equation ``(eq-5)`` whose label is ``eq-<number>`` is
the paper's equation of that number and is shown and cited as "(5)"; the book's own labelled
equations keep Sphinx's chapter numbers ("(7.3)"), which cannot be mistaken for the paper's.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx_proof import directive as proof_directive
from sphinx_proof import domain as proof_domain
from sphinx_proof import nodes as proof_nodes

# A paper number: "3.1", "1", "4.2a", or an appendix number "A.1", "B.3".
_NUMBER_PATTERN = r"(?:[A-Z]\.)?\d+(?:\.\d+)*[a-z]?"
_NUMBER = re.compile(rf"^\s*\(?\s*({_NUMBER_PATTERN})\s+(.*?)\)?\s*$", re.S)
_PAPER_EQUATION = re.compile(r"^eq-(\d+)$")


def _paper_number(title: str):
    """Split "3.1 Iterates enter the ball" into ("3.1", "Iterates enter the ball")."""
    m = _NUMBER.match(title or "")
    return (m.group(1), m.group(2)) if m else (None, title)


def _depart_unenumerable_node(self, node):
    realtyp = node.attributes.get("realtype", "")
    node_id = node.attributes.get("ids", [""])[0]
    search = f'<p class="admonition-title" id="{node_id}">'
    idx = proof_nodes.list_rindex(self.body, search) + 1
    caption = proof_nodes._(realtyp.title())
    # The title text follows as "(3.1 Title)"; move the number into the caption.
    for j in range(idx, min(idx + 6, len(self.body))):
        m = re.match(rf"^\s*\(({_NUMBER_PATTERN})\s+", self.body[j])
        if m:
            caption = f"{caption} {m.group(1)}"
            self.body[j] = " (" + self.body[j][m.end():]
            break
    self.body.insert(idx, f'<span class="caption-number">{caption} </span>')
    self.body.append("</div>")


def _visit_unenumerable_latex(self, node):
    """sphinx-proof's LaTeX visitor, labelled with the document Sphinx is writing.

    sphinx-proof finds the document by matching the page title against a section's names, which
    fails for a title with a typographic apostrophe or a question mark ("How big can Adam's
    updates be?") and writes ``\\label{None:lem-4-2}``: every PDF link to that block is then dead.
    ``hypertarget`` is the LaTeX writer's own label, the one its ``\\hyperref`` links point to.
    """
    self.body.append(self.hypertarget(node.attributes["label"], anchor=True))
    self.body.append(proof_nodes.latex_admonition_start)


class PaperNumberedProofDomain(proof_domain.ProofDomain):
    """sphinx-proof's ``prf`` domain whose references show the paper's number or the block's name.

    Registered with ``app.add_domain(..., override=True)``: a subclass, not a patch, so
    sphinx-proof's own class is unchanged for any other project in the process.
    """

    directives = {}  # filled below: every sphinx-proof directive, made unnumbered

    def resolve_xref(self, env, fromdocname, builder, typ, target, node, contnode):
        ref = super().resolve_xref(env, fromdocname, builder, typ, target, node, contnode)
        entry = env.proof_list.get(target) if hasattr(env, "proof_list") else None
        if ref is None or entry is None or not entry.get("nonumber"):
            return ref
        text = ref.astext().strip()
        if text != proof_domain.translate(entry["realtype"].title()):
            return ref  # an explicit link text was given: keep it
        number, title = _paper_number(entry.get("title", "") or "")
        if number:
            ref.children = [nodes.Text(f"{text} {number}")]
        elif title:
            ref.children = [nodes.Text(f"{text} ({title})")]
        return ref


def _unnumbered(directive_class):
    """A subclass of a sphinx-proof directive for which ``:nonumber:`` is always set: paper numbers
    come from the title, the book's own blocks are named."""

    class Unnumbered(directive_class):
        def run(self):
            self.options.setdefault("nonumber", None)
            return super().run()

    Unnumbered.__name__ = f"Unnumbered{directive_class.__name__}"
    return Unnumbered


PaperNumberedProofDomain.directives = {
    name: (_unnumbered(cls) if issubclass(cls, proof_directive.ElementDirective) else cls)
    for name, cls in proof_domain.ProofDomain.directives.items()}


def _paper_equation_numbers(app, env):
    """Show the paper's equations ``eq-<n>`` as "(n)" in the page and in every reference."""
    for docname, fignumbers in env.toc_fignumbers.items():
        numbers = fignumbers.get("displaymath", {})
        for node_id in list(numbers):
            label = node_id[len("equation-"):] if node_id.startswith("equation-") else node_id
            m = _PAPER_EQUATION.match(label)
            if m:
                numbers[node_id] = (int(m.group(1)),)
    return []


def _record_titles(app, doctree):
    """Remember each unnumbered proof block's title so references can show its number."""
    env = app.env
    for node in doctree.findall(lambda n: n.__class__.__name__ == "unenumerable_node"):
        ids = node.get("ids") or []
        title_nodes = [n for n in node.findall(nodes.title)]
        title = title_nodes[0].astext() if title_nodes else ""
        for ident in ids:
            if ident in getattr(env, "proof_list", {}):
                env.proof_list[ident]["title"] = title.strip().strip("()")


def setup(app):
    app.setup_extension("sphinx_proof")
    app.add_node(proof_nodes.unenumerable_node, override=True,
                 html=(proof_nodes.visit_unenumerable_node, _depart_unenumerable_node),
                 latex=(_visit_unenumerable_latex, proof_nodes.depart_unenumerable_node))
    app.add_domain(PaperNumberedProofDomain, override=True)
    # After Sphinx assigns figure/equation numbers (its own env-get-updated handler, priority 500).
    app.connect("env-get-updated", _paper_equation_numbers, priority=900)
    app.connect("doctree-read", _record_titles)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
