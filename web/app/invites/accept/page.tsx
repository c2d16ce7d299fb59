import { Suspense } from "react";
import { Loading } from "@/components/States";
import "../../orgs/orgs.css";
import AcceptInvite from "./view";
import PageTitle from "@/components/PageTitle";

// The link an invite carries: /invites/accept?token=… (the query is read in the browser).
export default function Page() {
  return (
    <section>
      <PageTitle>Invitation</PageTitle>
      <Suspense fallback={<Loading />}><AcceptInvite /></Suspense>
    </section>
  );
}
