/*  cw_export.h - symbol visibility for the public API (libraries build with hidden visibility). */
#ifndef CW_EXPORT_H_INCLUDED
#define CW_EXPORT_H_INCLUDED

#if defined(__GNUC__) || defined(__clang__)
#   define CW_EXPORT __attribute__((visibility ("default")))
#   define CW_MUST_CHECK __attribute__((warn_unused_result))
#else
#   define CW_EXPORT
#   define CW_MUST_CHECK
#endif

#endif
