"""Show the *paper's* numbers on sphinx-proof blocks ("Lemma 3.1", not the book's "Lemma 2.4").

Convention (see README, "Writing a chapter"): a result of the paper is written

    ```{prf:lemma} 3.1 Iterates enter, or stay in, the ball
    :label: lem-3-1
    :nonumber:
    ```

and renders as "Lemma 3.1 (Iterates enter, or stay in, the ball)"; ``{prf:ref}`lem-3-1``` renders
as "Lemma 3.1".  A block without a leading number keeps sphinx-proof's "Lemma (title)".
sphinx-proof itself only offers per-chapter counters, which cannot match the paper's numbering.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx_proof import domain as proof_domain
from sphinx_proof import nodes as proof_nodes

_NUMBER = re.compile(r"^\s*\(?\s*([A-Z]?\d+(?:\.\d+)*[a-z]?)\s+(.*?)\)?\s*$", re.S)


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
        m = re.match(r"^\s*\((\d+(?:\.\d+)*[a-z]?)\s+", self.body[j])
        if m:
            caption = f"{caption} {m.group(1)}"
            self.body[j] = " (" + self.body[j][m.end():]
            break
    self.body.insert(idx, f'<span class="caption-number">{caption} </span>')
    self.body.append("</div>")


_original_resolve = proof_domain.ProofDomain.resolve_xref


def _resolve_xref(self, env, fromdocname, builder, typ, target, node, contnode):
    ref = _original_resolve(self, env, fromdocname, builder, typ, target, node, contnode)
    entry = env.proof_list.get(target) if hasattr(env, "proof_list") else None
    if ref is None or entry is None or not entry.get("nonumber"):
        return ref
    text = ref.astext().strip()
    if text != proof_domain.translate(entry["realtype"].title()):
        return ref  # an explicit link text was given: keep it
    number, _ = _paper_number(entry.get("title", "") or "")
    if number:
        ref.children = [nodes.Text(f"{text} {number}")]
    return ref


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
                 latex=(proof_nodes.visit_unenumerable_node, proof_nodes.depart_unenumerable_node))
    proof_domain.ProofDomain.resolve_xref = _resolve_xref
    app.connect("doctree-read", _record_titles)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
