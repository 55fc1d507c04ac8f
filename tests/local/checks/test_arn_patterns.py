"""IAM wildcards: matching a name, two patterns overlapping, ArnLike part by part (arn_patterns)."""

from __future__ import annotations

from local_mode.checks.arn_patterns import arn_like, glob_match, patterns_overlap


def test_glob_helpers() -> None:
    assert glob_match("sagemaker:Describe*", "sagemaker:DescribeEndpoint")
    assert glob_match("arn:aws:s3:::b/?ey", "arn:aws:s3:::b/key")
    assert not glob_match("arn:aws:s3:::b/*", "arn:aws:s3:::c/key")
    assert patterns_overlap("training-job/mnist-*", "training-job/*")
    assert not patterns_overlap("training-job/mnist-*", "model/*")


def test_a_name_is_literal_but_a_pattern_is_not() -> None:
    assert not glob_match("training-job/mnist-*", "training-job/*")  # `*` in the name is a character
    assert glob_match("training-job/*", "training-job/*")
    assert patterns_overlap("a?c", "*c") and not patterns_overlap("a?c", "*d")


def test_arn_like_keeps_each_wildcard_inside_its_part() -> None:
    alarm = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:Failed"
    assert arn_like(alarm, "arn:aws:cloudwatch:*:*:alarm:*")
    assert not arn_like(alarm, "arn:aws:cloudwatch:*:alarm:*")  # its `*` cannot span region and account
    assert glob_match("arn:aws:cloudwatch:*:alarm:*", alarm)
