"""Students: small, fast models trained on (real or generated) annotated utterances.

``make_student("crf", **params)`` builds one; ``load_student(directory)`` reads a saved one.
"""

from tvd.students.base import (
    STUDENTS,
    Student,
    load_student,
    make_student,
    register_student,
    student_class,
    student_kinds,
)
from tvd.students.crf import CrfStudent

__all__ = [
    "STUDENTS",
    "CrfStudent",
    "Student",
    "load_student",
    "make_student",
    "register_student",
    "student_class",
    "student_kinds",
]
