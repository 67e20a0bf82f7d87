"""Excel workbooks: the shared format contract (format), safety checks and literal text (safety), the auditor
pack (export), the offline unit template (template) and the validated import (importer).

Nothing is imported here, so a command that does not use Excel does not load xlsxwriter, openpyxl or fastexcel.
"""
