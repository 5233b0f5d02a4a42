"""The miniature's second domain, built to test the paper's claims: identity in three grains (coarse, mid,
fine), poses that show copy-paste, and two subjects in one scene; every picture read exactly from its pixels."""
