"""Students: small, fast models trained on (real or generated) annotated utterances.

``make_student("crf", **params)`` builds one; ``load_student(directory)`` reads a saved one.
"""

from tvd.students.base import Student, load_student, make_student, register_student, student_kinds
from tvd.students.crf import CrfStudent

__all__ = ["CrfStudent", "Student", "load_student", "make_student", "register_student", "student_kinds"]
