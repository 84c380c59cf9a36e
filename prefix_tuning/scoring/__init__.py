"""Scoring engines shared by the tasks, each matching an official tool: mteval (E2E BLEU/NIST), COCO
caption (METEOR, ROUGE-L, CIDEr), multi-bleu, METEOR 1.5, tercom TER, rouge-score; plus reading system outputs."""
