"""pulumi"""
